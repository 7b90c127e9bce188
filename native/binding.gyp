{
  "targets": [
    {
      "target_name": "native",
      "sources": [
        "src/peer-credentials.cc",
        "src/flock.cc",
        "src/hba.cc",
        "src/hba-socket.cc",
        "../driver/sim/wire.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-fno-exceptions", "-std=gnu++20"],
      "conditions": [
        ["OS!='mac'", {
          "sources": ["src/host-events-none.cc"]
        }],
        ["OS=='mac'", {
          "sources": ["src/hba-iokit.cc", "src/host-events-mac.cc"],
          "libraries": ["-framework IOKit", "-framework CoreFoundation", "-framework DiskArbitration", "-framework Network"],
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
            "MACOSX_DEPLOYMENT_TARGET": "12.0"
          }
        }]
      ]
    }
  ]
}
