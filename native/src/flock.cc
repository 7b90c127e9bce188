// flock(2) on an open file: iscsid's single-instance lock on its state folder (docs/security.md, "Files"). The lock
// belongs to the open file description, so it lasts exactly as long as the descriptor stays open — the daemon's life.
#include <napi.h>
#include <cerrno>
#include <cstring>
#include <sys/file.h>

// flock(fd, exclusive, nonBlocking): true when taken; false when another holder has it and nonBlocking is set
// (EWOULDBLOCK); throws, with the errno name in `code`, for anything else.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBoolean() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "flock(fd, exclusive, nonBlocking): a number and two booleans").ThrowAsJavaScriptException();
    return env.Null();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int operation = (info[1].As<Napi::Boolean>().Value() ? LOCK_EX : LOCK_SH) | (info[2].As<Napi::Boolean>().Value() ? LOCK_NB : 0);
  int result;
  do {
    result = flock(fd, operation);
  } while (result != 0 && errno == EINTR);
  if (result == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  const int saved = errno;
  Napi::Error error = Napi::Error::New(env, std::string("flock: ") + strerror(saved));
  error.Set("code", Napi::String::New(env, saved == EBADF ? "EBADF" : saved == EINVAL ? "EINVAL" : saved == ENOLCK ? "ENOLCK" : "EIO"));
  error.Set("errno", Napi::Number::New(env, saved));
  error.ThrowAsJavaScriptException();
  return env.Null();
}
