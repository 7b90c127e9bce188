// Credentials of the process at the other end of a connected Unix domain socket: what iscsid needs to decide whether
// a caller may change state, and what a client needs to know that the daemon it talks to is root (docs/security.md).
// On a client's socket they are the listening server's, taken when it called listen(). Linux: getsockopt(SO_PEERCRED).
// macOS: getpeereid(3) plus LOCAL_PEERPID. Returns null where neither exists or the call fails.
#ifdef __linux__
#define _GNU_SOURCE 1
#endif
#include <napi.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/un.h>
#endif

static Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "peerCredentials(fd): fd must be a number").ThrowAsJavaScriptException();
    return env.Null();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Object out = Napi::Object::New(env);
#if defined(__linux__)
  struct ucred cred;
  socklen_t length = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return env.Null();
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  out.Set("pid", Napi::Number::New(env, cred.pid));
#elif defined(__APPLE__)
  uid_t uid;
  gid_t gid;
  if (getpeereid(fd, &uid, &gid) != 0) return env.Null();
  out.Set("uid", Napi::Number::New(env, uid));
  out.Set("gid", Napi::Number::New(env, gid));
  pid_t pid;
  socklen_t length = sizeof(pid);
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &length) == 0) out.Set("pid", Napi::Number::New(env, pid));
#else
  return env.Null();
#endif
  return out;
}

Napi::Value Flock(const Napi::CallbackInfo& info);  // flock.cc
namespace hba {
void InitHba(Napi::Env env, Napi::Object exports);  // hba.cc
}
namespace host {
void InitHostEvents(Napi::Env env, Napi::Object exports);  // host-events-mac.cc, or host-events-none.cc off macOS
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("flock", Napi::Function::New(env, Flock));
  hba::InitHba(env, exports);
  host::InitHostEvents(env, exports);
  return exports;
}

NODE_API_MODULE(native, Init)
