// The JS face of the HBA connection (native/index.js wraps it): open(options, onEvent) → Promise<NativeHba>, whose
// control and pool are external ArrayBuffers over the mapped regions (no copy), createTarget/destroyTarget →
// Promise (AsyncWorkers: the calls block), doorbell() (never blocks), close() (joins the backend's thread). Notices
// reach JS through one ThreadSafeFunction, one callback per batch: bits that arrive while a callback is queued are
// ORed into it.
#include <napi.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "hba-backend.h"

namespace hba {

const char* ErrorName(uint32_t status) {
  switch (status) {
    case ISCSI_HBA_OK: return "ISCSI_HBA_OK";
    case ISCSI_HBA_E_VERSION_MISMATCH: return "ISCSI_HBA_E_VERSION_MISMATCH";
    case ISCSI_HBA_E_BAD_MAGIC: return "ISCSI_HBA_E_BAD_MAGIC";
    case ISCSI_HBA_E_BAD_ARGUMENT: return "ISCSI_HBA_E_BAD_ARGUMENT";
    case ISCSI_HBA_E_NOT_ATTACHED: return "ISCSI_HBA_E_NOT_ATTACHED";
    case ISCSI_HBA_E_ALREADY_ATTACHED: return "ISCSI_HBA_E_ALREADY_ATTACHED";
    case ISCSI_HBA_E_NO_TARGET_SLOTS: return "ISCSI_HBA_E_NO_TARGET_SLOTS";
    case ISCSI_HBA_E_UNKNOWN_TARGET: return "ISCSI_HBA_E_UNKNOWN_TARGET";
    case ISCSI_HBA_E_UNKNOWN_TAG: return "ISCSI_HBA_E_UNKNOWN_TAG";
    case ISCSI_HBA_E_STALE_GENERATION: return "ISCSI_HBA_E_STALE_GENERATION";
    case ISCSI_HBA_E_DUPLICATE_COMPLETION: return "ISCSI_HBA_E_DUPLICATE_COMPLETION";
    case ISCSI_HBA_E_BAD_LENGTH: return "ISCSI_HBA_E_BAD_LENGTH";
    case ISCSI_HBA_E_BAD_DESCRIPTOR: return "ISCSI_HBA_E_BAD_DESCRIPTOR";
    case ISCSI_HBA_E_RING_CORRUPT: return "ISCSI_HBA_E_RING_CORRUPT";
    case ISCSI_HBA_E_UNKNOWN_SELECTOR: return "ISCSI_HBA_E_UNKNOWN_SELECTOR";
    case ISCSI_HBA_E_BUSY: return "ISCSI_HBA_E_BUSY";
    default: return nullptr;
  }
}

const char* ErrnoName(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case EACCES: return "EACCES";
    case ENOTSOCK: return "ENOTSOCK";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOMEM: return "ENOMEM";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "EIO";
  }
}

namespace {

Napi::Error ToJs(Napi::Env env, const Error& e) {
  Napi::Error error = Napi::Error::New(env, e.message);
  error.Set("code", Napi::String::New(env, e.code));
  if (e.status != 0) error.Set("status", Napi::Number::New(env, e.status));
  if (e.peer_version != 0) error.Set("peerAbiVersion", Napi::Number::New(env, e.peer_version));
  return error;
}

// What the backend's thread leaves for JS: notice bits gathered since the last callback, and the end of the line.
struct Events {
  std::mutex mu;
  uint32_t kinds = 0;
  uint32_t cmd_producer = 0;
  bool queued = false;  // a TSFN call is on its way: later bits join it
  std::optional<Error> lost;
  std::atomic<bool> closed{false};  // set on the JS thread by close(): nothing reaches JS after it
  Napi::ThreadSafeFunction tsfn;
};

void Deliver(Napi::Env env, Napi::Function callback, Events* events) {
  uint32_t kinds, producer;
  std::optional<Error> lost;
  {
    std::lock_guard lock(events->mu);
    kinds = events->kinds;
    producer = events->cmd_producer;
    lost = events->lost;
    events->kinds = 0;
    events->queued = false;
    events->lost.reset();
  }
  if (events->closed.load() || env == nullptr || callback.IsEmpty()) return;
  if (kinds != 0) callback.Call({Napi::Number::New(env, kinds), Napi::Number::New(env, producer)});
  if (lost && !events->closed.load()) callback.Call({env.Null(), env.Null(), Napi::Value(ToJs(env, *lost).Value())});
}

void Post(const std::shared_ptr<Events>& events) {
  // Called with events->mu held.
  if (events->queued) return;
  events->queued = true;
  events->tsfn.NonBlockingCall(events.get(), Deliver);
}

class NativeHba : public Napi::ObjectWrap<NativeHba> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeHba", {
      InstanceMethod<&NativeHba::CreateTarget>("createTarget"),
      InstanceMethod<&NativeHba::DestroyTarget>("destroyTarget"),
      InstanceMethod<&NativeHba::Doorbell>("doorbell"),
      InstanceMethod<&NativeHba::Close>("close"),
    });
  }

  NativeHba(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeHba>(info) {}
  ~NativeHba() override { Shut(); }

  void Adopt(std::shared_ptr<Backend> backend, std::shared_ptr<Events> events) {
    backend_ = std::move(backend);
    events_ = std::move(events);
  }

 private:
  class CallWorker : public Napi::AsyncWorker {
   public:
    CallWorker(Napi::Env env, std::shared_ptr<Backend> backend, bool create, iscsi_hba_create_target_in in, uint32_t id)
        : Napi::AsyncWorker(env, "hba-call"), deferred_(Napi::Promise::Deferred::New(env)), backend_(std::move(backend)),
          create_(create), in_(in), id_(id) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      ok_ = create_ ? backend_->CreateTarget(in_, out_, error_) : backend_->DestroyTarget(id_, error_);
    }
    void OnOK() override {
      Napi::Env env = Env();
      if (!ok_) return deferred_.Reject(ToJs(env, error_).Value());
      if (!create_) return deferred_.Resolve(env.Undefined());
      Napi::Object result = Napi::Object::New(env);
      result.Set("targetId", Napi::Number::New(env, out_.target_id));
      result.Set("existed", Napi::Boolean::New(env, out_.existed != 0));
      deferred_.Resolve(result);
    }

   private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Backend> backend_;
    bool create_;
    iscsi_hba_create_target_in in_;
    uint32_t id_;
    iscsi_hba_create_target_out out_{};
    Error error_;
    bool ok_ = false;
  };

  Napi::Value Closed(Napi::Env env) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(ToJs(env, Error{"ERR_HBA_CLOSED", "the HBA connection is closed"}).Value());
    return deferred.Promise();
  }

  Napi::Value CreateTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "createTarget(key): key must be a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string key = info[0].As<Napi::String>().Utf8Value();
    iscsi_hba_create_target_in in{};
    if (key.empty() || key.size() >= sizeof in.key || key.find('\0') != std::string::npos) {
      Napi::Error e = Napi::RangeError::New(env, "createTarget(key): 1 to " + std::to_string(sizeof in.key - 1) + " bytes of UTF-8 without NUL");
      e.Set("code", Napi::String::New(env, "ISCSI_HBA_E_BAD_ARGUMENT"));
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!backend_) return Closed(env);
    memcpy(in.key, key.data(), key.size());
    auto* worker = new CallWorker(env, backend_, true, in, 0);
    worker->Queue();
    return worker->Promise();
  }

  Napi::Value DestroyTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "destroyTarget(targetId): a number").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!backend_) return Closed(env);
    auto* worker = new CallWorker(env, backend_, false, {}, info[0].As<Napi::Number>().Uint32Value());
    worker->Queue();
    return worker->Promise();
  }

  Napi::Value Doorbell(const Napi::CallbackInfo& info) {
    if (backend_) backend_->Doorbell();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shut();
    return info.Env().Undefined();
  }

  // Joins the backend's thread; a worker still running holds the backend and fails with ERR_HBA_CLOSED.
  void Shut() {
    if (!backend_) return;
    events_->closed.store(true);
    backend_->Close();
    events_->tsfn.Release();
    backend_.reset();
  }

  std::shared_ptr<Backend> backend_;
  std::shared_ptr<Events> events_;
};

Napi::FunctionReference* NativeHba::constructor = nullptr;

// The ArrayBuffer's finalizer drops its share of the region (hba-backend.h, Region).
Napi::ArrayBuffer External(Napi::Env env, const std::shared_ptr<Region>& region) {
  auto* hold = new std::shared_ptr<Region>(region);
  return Napi::ArrayBuffer::New(env, region->address(), region->size(), [](Napi::Env, void*, std::shared_ptr<Region>* h) { delete h; }, hold);
}

class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, std::shared_ptr<Backend> backend, std::shared_ptr<Events> events)
      : Napi::AsyncWorker(env, "hba-open"), deferred_(Napi::Promise::Deferred::New(env)), backend_(std::move(backend)),
        events_(std::move(events)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { ok_ = backend_->Open(opened_, error_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!ok_) {
      events_->closed.store(true);
      backend_->Close();
      events_->tsfn.Release();
      return deferred_.Reject(ToJs(env, error_).Value());
    }
    Napi::Object object = NativeHba::constructor->New({});
    NativeHba::Unwrap(object)->Adopt(backend_, events_);
    object.Set("control", External(env, opened_.control));
    object.Set("pool", External(env, opened_.pool));
    Napi::Object info = Napi::Object::New(env);
    const iscsi_hba_info& i = opened_.info;
    info.Set("abiVersion", i.abi_version);
    info.Set("maxTransfer", i.max_transfer);
    info.Set("maxTargets", i.max_targets);
    info.Set("maxLuns", i.max_luns);
    info.Set("queueDepth", i.queue_depth);
    info.Set("ringEntries", i.ring_entries);
    info.Set("poolSlotSize", i.pool_slot_size);
    info.Set("poolSize", double(i.pool_size));
    info.Set("holdMs", i.hold_ms);
    info.Set("attachEpoch", opened_.handshake.attach_epoch);
    info.Set("heldTasks", opened_.handshake.held_tasks);
    info.Set("features", opened_.handshake.features);
    object.Set("info", info);
    deferred_.Resolve(object);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Backend> backend_;
  std::shared_ptr<Events> events_;
  Opened opened_;
  Error error_;
  bool ok_ = false;
};

// open({ socketPath?, abiVersion?, callTimeoutMs }, onEvent(kinds, cmdProducer) | onEvent(null, null, error))
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "hbaOpen(options, onEvent)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Options options;
  if (o.Get("socketPath").IsString()) options.socket_path = o.Get("socketPath").As<Napi::String>().Utf8Value();
  if (o.Get("abiVersion").IsNumber()) options.abi_version = o.Get("abiVersion").As<Napi::Number>().Uint32Value();
  if (o.Get("callTimeoutMs").IsNumber()) options.call_timeout_ms = o.Get("callTimeoutMs").As<Napi::Number>().Uint32Value();
  auto events = std::make_shared<Events>();
  // The TSFN's context keeps Events alive until its last queued call has run (the finalizer drops it).
  auto* context = new std::shared_ptr<Events>(events);
  events->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "hba-notices", 0, 1, context,
                                               [](Napi::Env, std::shared_ptr<Events>* c) { delete c; });
  events->tsfn.Unref(env);  // an open HBA alone does not keep the process up; the daemon's server does
  std::weak_ptr<Events> weak = events;
  NoticeSink notice = [weak](uint32_t kinds, uint32_t producer) {
    auto e = weak.lock();
    if (!e) return;
    std::lock_guard lock(e->mu);
    e->kinds |= kinds;
    e->cmd_producer = producer;
    Post(e);
  };
  LostSink lost = [weak](const Error& error) {
    auto e = weak.lock();
    if (!e) return;
    std::lock_guard lock(e->mu);
    e->lost = error;
    Post(e);
  };
  std::shared_ptr<Backend> backend;
  if (!options.socket_path.empty()) {
    backend = NewSocketBackend(options, notice, lost);
  } else {
#ifdef __APPLE__
    backend = NewIoKitBackend(options, notice, lost);
#else
    events->tsfn.Release();
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(ToJs(env, Error{"ENOSYS", "the dext exists only on macOS: give socketPath (the simulator)"}).Value());
    return deferred.Promise();
#endif
  }
  auto* worker = new OpenWorker(env, backend, events);
  worker->Queue();
  return worker->Promise();
}

}  // namespace

void InitHba(Napi::Env env, Napi::Object exports) {
  NativeHba::constructor = new Napi::FunctionReference(Napi::Persistent(NativeHba::Define(env)));
  exports.Set("hbaOpen", Napi::Function::New(env, Open));
}

}  // namespace hba
