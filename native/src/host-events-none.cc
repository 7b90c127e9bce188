// Off macOS there are no DiskArbitration, power or nw_path events to watch: hostWatch throws ENOSYS (the portable
// policies in core/src/daemon/host/ are tested with events made by hand instead). macOS: host-events-mac.cc.
#include <napi.h>

namespace host {

void InitHostEvents(Napi::Env env, Napi::Object exports) {
  exports.Set("hostWatch", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Error e = Napi::Error::New(info.Env(), "hostWatch: DiskArbitration, system power and network path events exist only on macOS");
    e.Set("code", "ENOSYS");
    e.ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }));
}

}  // namespace host
