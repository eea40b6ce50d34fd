// Straight system calls on a plain TCP socket, without an asio operation: when the call
// completes at once (the usual case: a small request or answer, a socket just reported
// readable) the calling coroutine does not suspend, and no operation is allocated and posted
// through the scheduler. Only what would block goes to asio. Used strictly one at a time per
// socket, never beside a pending asio write, so bytes cannot interleave.
// Thread-safety: that of the socket (its worker thread).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <cerrno>

namespace berth::gateway::server {

// Sends what it can of `bufs` (MSG_DONTWAIT) and advances `bufs` past it; true when nothing
// is left. On a full socket buffer it returns false with no error: the caller writes the rest
// with asio. `ec` is always assigned (cleared on success), like an asio operation's.
template <size_t N>
bool SendNow(asio::ip::tcp::socket& s, std::array<asio::const_buffer, N>& bufs,
             asio::error_code& ec) {
  ec = {};
  iovec iov[N];
  int count = 0;
  for (const auto& b : bufs) {
    if (b.size() > 0) iov[count++] = {const_cast<void*>(b.data()), b.size()};
  }
  if (count == 0) return true;
  ssize_t n;
  do {
    if (count == 1) {
      n = ::send(s.native_handle(), iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(count);
      n = ::sendmsg(s.native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      ec = asio::error_code(errno, asio::system_category());
    return false;
  }
  auto left = static_cast<size_t>(n);
  for (auto& b : bufs) {
    const size_t take = std::min(left, b.size());
    b += take;
    left -= take;
  }
  return asio::buffer_size(bufs) == 0;
}

// One recv (MSG_DONTWAIT) into `space`: the byte count; 0 with ec = eof at the end of the
// stream, 0 with ec = would_block when nothing is there, 0 with the error otherwise.
inline size_t RecvNow(asio::ip::tcp::socket& s, asio::mutable_buffer space, asio::error_code& ec) {
  ec = {};
  ssize_t n;
  do {
    n = ::recv(s.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) return static_cast<size_t>(n);
  if (n == 0) {
    ec = asio::error::eof;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    ec = asio::error::would_block;
  } else {
    ec = asio::error_code(errno, asio::system_category());
  }
  return 0;
}

}  // namespace berth::gateway::server
