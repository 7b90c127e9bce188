{
  "targets": [
    {
      "target_name": "native",
      "sources": ["src/peer-credentials.cc", "src/flock.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-fno-exceptions"],
      "conditions": [
        ["OS=='mac'", { "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "NO", "MACOSX_DEPLOYMENT_TARGET": "12.0" } }]
      ]
    }
  ]
}
