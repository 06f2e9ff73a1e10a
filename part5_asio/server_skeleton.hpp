// Everything of an Asio server except its sessions, written once for the
// three servers of this chapter: the listener, the accept loop and its
// back-off, the registry of sessions, the graceful shutdown and the pool of
// threads that runs the io_context. The servers differ only in their
// Session (callback_session.hpp, coroutine_session.hpp, and where each
// server file computes its replies).
//
// The skeleton is written with callbacks, the style Asio itself documents
// and the one that needs no compiler switch; the coroutine server uses it
// unchanged, since nothing here is what that server is about.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "asio_headers.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/socket.hpp"
#include "cs/stats.hpp"

namespace part5 {

// Every session's executor, socket and timer, named by their concrete
// types: a strand of the io_context. The plain tcp::socket and steady_timer
// hold a type-erased any_io_executor, whose small buffer (16 bytes) cannot
// hold a strand (32 bytes). Each operation asks the executor for a variant
// of itself (one that counts as outstanding work), twice, and each variant
// of an erased strand is a new heap object: two mallocs and frees per read,
// write or wait. With the type named, a variant is a plain copy.
using SessionExecutor = asio::strand<asio::io_context::executor_type>;
using SessionSocket = tcp::socket::rebind_executor<SessionExecutor>::other;
using SessionTimer = asio::steady_timer::rebind_executor<SessionExecutor>::other;

// Accept failures such as EMFILE repeat at once if retried at once: wait,
// doubling from the first to the last value, reset by the next success.
inline constexpr std::chrono::steady_clock::duration first_accept_backoff =
    std::chrono::milliseconds(10);
inline constexpr std::chrono::steady_clock::duration last_accept_backoff =
    std::chrono::milliseconds(1000);

// Opens, binds and listens `acceptor` as --host, --port and --backlog say,
// then prints the "listening on" line. Setup errors (a bad address, a port
// in use) throw cs::SetupError, which makes the server exit 1 with the
// message. Call before io_context::run().
inline void open_listener(asio::ip::tcp::acceptor& acceptor, const cs::ServerOptions& options) {
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
    const std::string where = cs::Endpoint{options.host, options.port}.to_string();
    throw cs::SetupError("cannot listen on " + where + ": " + error.message() +
                         (error.category() == asio::error::get_system_category()
                              ? cs::advice_for_bind_error(error.value())
                              : std::string()));
  }
  const tcp::endpoint bound = acceptor.local_endpoint();
  cs::announce_listening({bound.address().to_string(), bound.port()});
}

// What a session needs of the server around it: the options, the counters
// of the final summary, and a way to leave the registry. An interface, so
// that the sessions' shared code (session_base.hpp) need not know which
// Server<Session> it runs in.
class SessionHost {
 public:
  virtual const cs::ServerOptions& options() const = 0;
  virtual cs::ServerStats& stats() = 0;
  // Thread-safe: a session leaving the registry (from its destructor).
  virtual void remove(std::uint64_t id) = 0;

 protected:
  ~SessionHost() = default;
};

// The listener, the registry of sessions and the shutdown sequence. The
// acceptor, the timers and the signal set are used only on strand_; the
// registry is shared with every session's strand and guarded by mutex_.
//
// What it asks of a Session (each server's own class):
//   Session(SessionSocket socket, SessionHost& server, std::uint64_t id)
//   void start();                 begin serving; called once, after registering
//   void stop(std::string why);   close from any thread (post to its strand)
// and its destructor calls remove(id). The registry holds weak_ptrs: the
// session's own pending operations keep it alive, the registry only finds
// it at shutdown.
template <typename Session>
class Server final : public SessionHost {
 public:
  Server(asio::io_context& io, const cs::ServerOptions& options)
      : io_(io),
        options_(options),
        strand_(asio::make_strand(io)),
        acceptor_(strand_),
        backoff_timer_(strand_),
        grace_timer_(strand_),
        signals_(strand_, SIGINT, SIGTERM) {}

  // Binds, announces "listening on", starts accepting and waits for signals.
  // Setup errors (a bad address, a port in use) throw SetupError: main exits 1.
  void start() {
    open_listener(acceptor_, options_);
    // No handler runs before io_context::run(), so these two are safe here.
    signals_.async_wait([this](const boost::system::error_code& e, int n) { on_signal(e, n); });
    do_accept();
  }

  void remove(std::uint64_t id) override {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
    if (stopping_ && sessions_.empty()) {
      // The last session left within the grace period: nothing to wait for.
      asio::post(strand_, [this] { grace_timer_.cancel(); });
    }
  }

  const cs::ServerOptions& options() const override { return options_; }
  cs::ServerStats& stats() override { return stats_; }

 private:
  void do_accept() {
    // Each connection gets a strand of its own: its handlers may run on any
    // thread of the pool, but never two at once.
    acceptor_.async_accept(asio::make_strand(io_),
                           [this](const boost::system::error_code& error, SessionSocket socket) {
                             on_accept(error, std::move(socket));
                           });
  }

  void on_accept(const boost::system::error_code& error, SessionSocket socket) {
    if (error == asio::error::operation_aborted) return;  // the acceptor was closed
    if (error == asio::error::connection_aborted || error == asio::error::interrupted ||
        error == asio::error::try_again) {
      return do_accept();  // the client gave up before accept(): nothing to wait for
    }
    if (error) {
      cs::log_warn_limited(
          accept_warnings_, "accept: ", error.message(), "; retrying in ",
          std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count(), " ms");
      return back_off_then_accept();
    }
    backoff_ = first_accept_backoff;

    std::shared_ptr<Session> session;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;  // accepted just before the stop: the socket closes here
      const std::uint64_t id = next_id_++;
      session = std::make_shared<Session>(std::move(socket), *this, id);
      sessions_.emplace(id, session);
    }
    session->start();
    do_accept();
  }

  void back_off_then_accept() {
    backoff_timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, last_accept_backoff);
    backoff_timer_.async_wait([this](const boost::system::error_code& error) {
      if (!error) do_accept();  // cancelled: the server is stopping
    });
  }

  // Graceful shutdown, in three steps:
  //   SIGTERM ──► stop accepting ──► sessions go on ─┬─► last one leaves: done
  //                                  (grace period)  └─► grace over: close the rest
  // run() returns in every thread once no handler is left, so when it does,
  // every session has been destroyed and counted.
  void on_signal(const boost::system::error_code& error, int signal_number) {
    if (error) return;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    backoff_timer_.cancel();
    bool idle = false;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      idle = sessions_.empty();
    }
    cs::log_info("signal ", signal_number, ": no longer accepting; open sessions have ",
                 options_.shutdown_grace.count(), " ms to finish");
    if (idle) return;
    grace_timer_.expires_after(options_.shutdown_grace);
    grace_timer_.async_wait([this](const boost::system::error_code& e) {
      if (!e) close_all_sessions("shutdown grace period over");
    });
  }

  void close_all_sessions(const std::string& why) {
    // Collected under the lock, stopped and released after it: a shared_ptr
    // taken here may become a session's last one, and dropping it runs the
    // destructor, which calls remove() and so takes mutex_ again.
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, weak] : sessions_) {
        if (auto session = weak.lock()) open.push_back(std::move(session));
      }
    }
    for (const auto& session : open) session->stop(why);
  }

  asio::io_context& io_;
  const cs::ServerOptions& options_;
  cs::ServerStats stats_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_timer_;
  std::chrono::steady_clock::duration backoff_ = first_accept_backoff;
  // Out of descriptors, accept fails at every retry: one warning per 5 s.
  cs::RepeatLimiter accept_warnings_;
  asio::steady_timer grace_timer_;
  asio::signal_set signals_;

  std::mutex mutex_;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions_;  // guarded by mutex_
  std::uint64_t next_id_ = 1;                                 // guarded by mutex_
  bool stopping_ = false;                                     // guarded by mutex_
};

// Runs `io` on `threads` threads, the calling one included, and returns when
// every one of them has left run() (no work is left, or io.stop()).
//
// Connections' errors are error codes handled in their own chains. An
// exception that leaves run() is the server's own failure: the first one is
// kept, every thread is stopped and joined, and it is rethrown here (the
// server then exits 1 through cs::run_guarded) instead of std::terminate on
// a pool thread. Call from the thread that owns `io`.
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

// The whole server around `Session`: listen, serve on --threads threads
// until a signal and the grace period have ended every session, then print
// the summary. The summary comes after run_on_pool() returns, when every
// session has been destroyed and so has added its counts.
template <typename Session>
void run_server(const cs::ServerOptions& options) {
  asio::io_context io(static_cast<int>(options.threads));  // a concurrency hint
  Server<Session> server(io, options);
  server.start();
  run_on_pool(io, options.threads);
  cs::write_log_line(cs::LogLevel::info, "stopped: " + server.stats().summary());  // even with --quiet
}

}  // namespace part5
