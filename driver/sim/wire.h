// Framing of the user-client calls on the Unix stream socket (see sim_abi.h for the header and selectors).
#pragma once
#include <cstdint>
#include <mutex>
#include <string>

#include "sim_wire.h"

namespace sim {

struct Message {
  MsgHeader header{};
  uint8_t payload[kMsgMaxPayload];
  int fd = -1;  // a descriptor passed with SCM_RIGHTS, owned by the receiver
};

// Sends one message; `pass_fd` >= 0 rides along as SCM_RIGHTS. Returns false if the peer is gone.
bool send_message(int sock, uint16_t selector, uint16_t flags, int32_t status, const void* payload, uint32_t length,
                  int pass_fd = -1);

// Sends `length` bytes, blocking until all are sent. Returns false if the peer is gone.
bool send_all(int sock, const void* data, size_t length);

// Reads one whole message. Returns false on EOF or error; `error` says which, "" for an orderly EOF.
// A bad magic or an oversized length is an error: the stream cannot be resynchronised.
bool recv_message(int sock, Message& out, std::string& error);

// One writer at a time per socket: notices come from several threads.
class Channel {
 public:
  explicit Channel(int sock) : sock_(sock) {}
  ~Channel();  // closes the socket: a Channel owns it
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  int fd() const { return sock_; }
  bool send(uint16_t selector, uint16_t flags, int32_t status, const void* payload, uint32_t length, int pass_fd = -1) {
    std::lock_guard lock(mu_);
    return send_message(sock_, selector, flags, status, payload, length, pass_fd);
  }
 private:
  int sock_;
  std::mutex mu_;
};

}  // namespace sim
