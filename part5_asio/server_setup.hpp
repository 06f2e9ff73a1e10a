// What both Asio servers do the same way: open their listener, run their
// io_context on a pool of threads, and read the shift protocol's bytes
// through a buffer that belongs to the I/O thread, not to the session.
#pragma once

#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "asio_headers.hpp"
#include "cs/options.hpp"
#include "cs/socket.hpp"

namespace part5 {

// Opens, binds and listens `acceptor` as --host, --port and --backlog say,
// then prints the "listening on" line. Setup errors (a bad address, a port
// in use) throw cs::SetupError, which makes the server exit 1 with the
// message. Call before io_context::run().
inline void open_listener(asio::ip::tcp::acceptor& acceptor, const cs::ServerOptions& options) {
  using tcp = asio::ip::tcp;
  boost::system::error_code error;
  tcp::resolver resolver(acceptor.get_executor());
  const auto results = resolver.resolve(options.host, std::to_string(options.port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service,
                                        error);
  if (error || results.empty()) {
    throw cs::SetupError("cannot resolve --host " + options.host + ": " + error.message() +
                         " (give an IPv4 or IPv6 address, e.g. 127.0.0.1)");
  }
  const tcp::endpoint endpoint = *results.begin();
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(options.backlog, error);
  if (error) {
    throw cs::SetupError("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                         ": " + error.message() +
                         " (is another server using the port? try --port 0)");
  }
  const tcp::endpoint bound = acceptor.local_endpoint();
  cs::announce_listening({bound.address().to_string(), bound.port()});
}

// Runs `io` on `threads` threads, the calling one included, and returns when
// every one of them has left run() (no work is left, or io.stop()).
//
// Connections' errors are error codes handled in their own chains. An
// exception that leaves run() is the server's own failure: the first one is
// kept, every thread is stopped and joined, and it is rethrown here (the
// server then exits 1 through cs::run_guarded) instead of std::terminate on
// a pool thread. Call from the thread that owns `io`.
// The shift sessions' read buffer: one per I/O thread, never one per
// session. A session waits for readability (async_wait), then reads what is
// there into this buffer and hands it to its cs::Session within the same
// handler, so nothing of it outlives the handler and another session on this
// thread can use it next. An idle client therefore costs no read buffer: with
// a 64 KiB buffer per session, 1,000 idle clients would pin 64 MiB.
inline asio::mutable_buffer io_thread_read_buffer() {
  constexpr std::size_t size = 64 * 1024;
  thread_local std::vector<unsigned char> buffer(size);
  return asio::buffer(buffer);
}

inline void run_on_pool(asio::io_context& io, unsigned threads) {
  std::mutex failure_mutex;
  std::exception_ptr failure;  // guarded by failure_mutex
  const auto run = [&] {
    try {
      io.run();
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      io.stop();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(run);
  run();
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace part5
