#include "wire.h"

#include <sys/socket.h>

#include "platform.h"
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sim {

Channel::~Channel() { close(sock_); }

bool send_message(int sock, uint16_t selector, uint16_t flags, int32_t status, const void* payload, uint32_t length,
                  int pass_fd) {
  MsgHeader h{kMsgMagic, selector, flags, status, length};
  iovec iov[2] = {{&h, sizeof h}, {const_cast<void*>(payload), length}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = length ? 2 : 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    memset(control, 0, sizeof control);
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  size_t total = sizeof h + length;
  size_t sent = 0;
  while (sent < total) {
    ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sent += static_cast<size_t>(n);
    if (sent == total) break;
    // A short write: move the iovecs on; the descriptor went with the first byte.
    m.msg_control = nullptr;
    m.msg_controllen = 0;
    size_t skip = static_cast<size_t>(n);
    while (skip > 0 && m.msg_iovlen > 0) {
      if (skip >= m.msg_iov[0].iov_len) {
        skip -= m.msg_iov[0].iov_len;
        m.msg_iov++;
        m.msg_iovlen--;
      } else {
        m.msg_iov[0].iov_base = static_cast<char*>(m.msg_iov[0].iov_base) + skip;
        m.msg_iov[0].iov_len -= skip;
        skip = 0;
      }
    }
  }
  return true;
}

bool send_all(int sock, const void* data, size_t length) {
  size_t sent = 0;
  while (sent < length) {
    ssize_t n = send(sock, static_cast<const char*>(data) + sent, length - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

static bool read_full(int sock, void* buf, size_t len, int* fd_out, std::string& error) {
  size_t got = 0;
  while (got < len) {
    iovec iov{static_cast<char*>(buf) + got, len - got};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = strerror(errno);
      return false;
    }
    if (n == 0) {
      if (got != 0) error = "peer closed the socket inside a message";
      return false;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (fd_out != nullptr && *fd_out < 0) *fd_out = fd;
        else close(fd);  // more descriptors than the call carries: not ours to keep
      }
    }
    got += static_cast<size_t>(n);
  }
  return true;
}

bool recv_message(int sock, Message& out, std::string& error) {
  error.clear();
  out.fd = -1;
  if (!read_full(sock, &out.header, sizeof out.header, &out.fd, error)) return false;
  if (out.header.magic != kMsgMagic) {
    error = "bad message magic";
    return false;
  }
  if (out.header.length > kMsgMaxPayload) {
    error = "message payload of " + std::to_string(out.header.length) + " bytes exceeds " +
            std::to_string(kMsgMaxPayload);
    return false;
  }
  return read_full(sock, out.payload, out.header.length, &out.fd, error);
}

}  // namespace sim
