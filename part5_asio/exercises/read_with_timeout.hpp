// Exercise part5-2: a read with a deadline, the building block of every
// timeout in this chapter (the servers' idle timeout, the client's request
// timeout).
//
// async_read_some_with_timeout starts one async_read_some on `socket` and a
// steady_timer beside it; whichever finishes first decides the outcome, and
// `done` is called exactly once, on the socket's executor:
//   - (no error, n)             bytes arrived first (n > 0);
//   - (asio::error::eof, 0)     the peer closed first;
//   - (asio::error::timed_out, 0)  `timeout` passed first: the read is
//                               cancelled, and no data is consumed after it.
// Once `done` has run, nothing of the operation is left pending: neither
// the read nor the timer keeps the io_context busy.
//
// Thread-safety: call it on the socket's executor (or before running the
// io_context), like any Asio operation on that socket. `socket` and `buffer`
// must outlive the operation.
#pragma once

#include "asio_headers.hpp"

#include <chrono>
#include <cstddef>
#include <functional>

namespace part5ex {

using ReadHandler = std::function<void(const boost::system::error_code& error, std::size_t bytes)>;

void async_read_some_with_timeout(tcp::socket& socket, asio::mutable_buffer buffer,
                                  std::chrono::milliseconds timeout, ReadHandler done);

}  // namespace part5ex
