// Read readiness without wasted system calls: what NGINX does with its `ready` flags, on top
// of asio's epoll reactor.
//
// asio registers a socket once (edge-triggered EPOLLIN) and keeps one flag per socket, "a
// read may succeed" (try_speculative), set by every readiness edge. A read first tries the
// system call when the flag is set, and only queues for the next edge when it is clear. But
// asio clears it only when a read returns 0 (EOF), so after the first edge every read on a
// socket tries recv() first: reading an upstream's response right after sending it the
// request mostly finds nothing (EAGAIN, a wasted system call), and socket::async_wait (the
// keep-alive wait between requests) always re-arms the registration (EPOLL_CTL_MOD) instead.
//
// - NoteReadDrained(socket) after a read returned less than it asked for: TCP had nothing
//   more queued, so the flag is cleared (as NGINX clears `ready` after a short recv). Bytes
//   that arrive later raise a new edge, which sets the flag again before any queued read runs.
// - AsyncWaitReadable(socket, handler) starts asio's wait operation the way asio starts reads:
//   it completes at once when the flag is set (the socket may hold bytes; the caller's read
//   finds out), else it queues for the next edge (bytes, EOF or error), with no system call.
// Neither ever sleeps through bytes already there; the cost is one spurious wake-up when an
// edge was already consumed by a read.
//
// Both reach into asio's reactor (detail namespace, private members through explicit
// instantiation); they are compiled only against the epoll reactor of asio 1.22 (the version
// they were written for) and otherwise fall back to asio's own behaviour (NoteReadDrained does
// nothing, AsyncWaitReadable is async_wait).
// Thread-safety: that of the socket (call on the thread that runs its io_context).
#pragma once

#include <asio/async_result.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/version.hpp>
#include <memory>
#include <type_traits>
#include <utility>

#if ASIO_VERSION >= 102200 && ASIO_VERSION < 102300 && defined(ASIO_HAS_EPOLL) && \
    !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
#define BERTH_GATEWAY_READY_HINTS 1
#include <asio/detail/epoll_reactor.hpp>
#include <asio/detail/reactive_wait_op.hpp>
#include <asio/detail/reactor.hpp>
#include <asio/detail/socket_ops.hpp>
#endif

namespace berth::gateway::server {

#if BERTH_GATEWAY_READY_HINTS
namespace ready_detail {

// basic_socket::impl_ is protected: reached through a member pointer named in a subclass.
struct SocketAccess : asio::ip::tcp::socket {
  static auto& Impl(asio::ip::tcp::socket& s) { return s.*(&SocketAccess::impl_); }
};

// epoll_reactor::descriptor_state::try_speculative_ is private: its member pointer is taken
// in an explicit instantiation (where access is not checked) and handed out by a friend.
using DescriptorState = std::remove_pointer_t<asio::detail::epoll_reactor::per_descriptor_data>;
struct TrySpeculativeTag {
  using type = bool (DescriptorState::*)[asio::detail::epoll_reactor::max_ops];
  friend type Member(TrySpeculativeTag);
};
template <typename Tag, typename Tag::type M>
struct Expose {
  friend typename Tag::type Member(Tag) { return M; }
};
template struct Expose<TrySpeculativeTag, &DescriptorState::try_speculative_>;

}  // namespace ready_detail
#endif

inline void NoteReadDrained(asio::ip::tcp::socket& socket) {
#if BERTH_GATEWAY_READY_HINTS
  auto& impl = ready_detail::SocketAccess::Impl(socket).get_implementation();
  if (impl.reactor_data_ != nullptr) {
    (impl.reactor_data_
         ->*Member(ready_detail::TrySpeculativeTag{}))[asio::detail::epoll_reactor::read_op] =
        false;
  }
#else
  (void)socket;
#endif
}

// `handler(asio::error_code)`, called like an async_wait handler.
template <typename Handler>
void AsyncWaitReadable(asio::ip::tcp::socket& socket, Handler handler) {
#if BERTH_GATEWAY_READY_HINTS
  auto& io_impl = ready_detail::SocketAccess::Impl(socket);
  auto& impl = io_impl.get_implementation();
  // Only a socket an earlier operation made non-blocking (asio does that on first use).
  if ((impl.state_ & asio::detail::socket_ops::non_blocking) != 0 &&
      impl.reactor_data_ != nullptr) {
    auto& reactor = asio::use_service<asio::detail::reactor>(
        asio::query(io_impl.get_executor(), asio::execution::context));
    using Op = asio::detail::reactive_wait_op<Handler, asio::any_io_executor>;
    typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(asio::error_code(), handler, io_impl.get_executor());
    reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                     /*is_continuation=*/false, /*allow_speculative=*/true);
    p.v = p.p = nullptr;
    return;
  }
#endif
  socket.async_wait(asio::ip::tcp::socket::wait_read, std::move(handler));
}

// AsyncWaitReadable with a completion token (e.g. use_awaitable), signature
// void(asio::error_code).
template <typename Token>
auto WaitReadable(asio::ip::tcp::socket& socket, Token&& token) {
  return asio::async_initiate<Token, void(asio::error_code)>(
      [](auto handler, asio::ip::tcp::socket* s) { AsyncWaitReadable(*s, std::move(handler)); },
      token, &socket);
}

}  // namespace berth::gateway::server
