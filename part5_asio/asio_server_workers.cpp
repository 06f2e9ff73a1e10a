// Asio server with a worker pool - asio-server's event loop for the I/O, and
// a second pool (asio::thread_pool, --workers N) for the CPU work of requests.
//
// The one idea, against asio_server.cpp: a handler that computes holds its
// I/O thread, and every session waiting on that thread waits with it. Here
// the I/O threads only read, write and time out; each complete chunk (shift)
// or frame (framed) goes to the worker pool, which computes the reply
// (--work-us) and posts it back to the session's strand, where it is queued
// and written as before. A session hands the pool one chunk or frame at a
// time and reads the next only once the reply is queued: its replies stay
// in order, and what a session holds stays bounded (one request at the pool,
// replies up to the output limit), however many requests its client sends.
//
// Everything else is asio_server.cpp line for line, so that the two files
// diff to this one idea; docs/part5_asio.md prints that diff and ctest
// docs.code fails when the files no longer diff to it, so a fix made to one
// session and not the other cannot go unnoticed.
//
// (asio-server's description follows.)
//
// How it works: each step of a connection starts one asynchronous operation
// and names the handler that continues (do_read_header -> do_read_body ->
// queue_reply -> do_read_header; do_write beside it, one write in flight).
// --threads threads run whichever handler completes next; a strand per
// session keeps its handlers from running at once. Its limit: the logic is
// spread over many small functions, and a blocking handler stalls a thread
// of the pool. New since part 4: Asio owns the loop and the completion queue.
// This file is the session; the rest of the server (listener, registry,
// shutdown, thread pool) is server_skeleton.hpp, shared with the coroutine
// server, so that diffing the two files shows only the session.
//
// Run:  asio-server-workers 9090 --threads 1 --workers 2 --work-us 50000
#include <CLI/CLI.hpp>

#include "asio_headers.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"

#include <pthread.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <latch>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cs/bytes.hpp"
#include "cs/frame_codec.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using part5::max_queued_reply_bytes;

class Session;
// The listener, registry and shutdown of server_skeleton.hpp, around this
// file's Session.
using Server = part5::Server<Session>;

// The worker pool, where requests are computed: created in main() before the
// server starts, joined after it has stopped.
asio::thread_pool* workers = nullptr;

// One connection. Created by the acceptor, owned by the handlers it has
// outstanding: each captures shared_from_this(), so the session lives exactly
// as long as some operation of it can still complete. All its members are
// touched only on its strand (the socket's executor), never by two threads
// at once, so none needs a lock.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(part5::SessionSocket socket, Server& server, std::uint64_t id);
  ~Session();

  // Starts serving. Call once, after the server registered the session.
  void start();
  // Closes the connection now, from any thread (posted to the strand).
  void stop(std::string why);

 private:
  void start_reading();
  void do_read_some();                    // shift: whatever arrived
  void do_read_header();                  // framed: exactly 4 bytes
  void do_read_body(std::uint32_t length);  // framed: exactly `length` bytes
  bool read_completed(const error_code& error, std::size_t bytes);
  template <typename Work, typename Then>
  void compute(Work work, Then then);  // `work` on the pool, `then` back on the strand
  void note_received();  // bytes arrived: the idle clock restarts, a frame's begins
  void note_sent();      // bytes left: the idle clock restarts
  void queue_reply(cs::Bytes reply);
  void do_write();
  void watch_deadlines();  // the idle and request timeouts
  void finish(std::string why);  // no more input: close once the replies are out
  void close(const std::string& why);

  part5::SessionSocket socket_;
  Server& server_;
  const std::uint64_t id_;
  const std::string peer_;
  part5::SessionTimer deadline_timer_;
  part5::SessionDeadlines deadlines_;

  std::unique_ptr<cs::Session> shift_;  // the shift protocol's state (shift only)
  std::array<cs::Byte, cs::frame_header_length> header_{};  // framed only
  cs::Bytes body_;                                          // framed only

  std::deque<cs::Bytes> write_queue_;  // replies waiting for the next write
  std::vector<cs::Bytes> writing_;     // replies of the write in flight
  std::size_t queued_bytes_ = 0;       // in both of the above
  std::vector<asio::const_buffer> write_buffers_;  // writing_, as one buffer sequence
  bool reading_paused_ = false;        // backpressure: resumed by do_write's handler
  std::optional<std::string> finish_reason_;  // set when input ended
  bool closed_ = false;

  std::uint64_t frames_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t bytes_sent_ = 0;
};

// --- Session -----------------------------------------------------------------

Session::Session(part5::SessionSocket socket, Server& server, std::uint64_t id)
    : socket_(std::move(socket)),
      server_(server),
      id_(id),
      peer_([this] {
        error_code error;
        const auto endpoint = socket_.remote_endpoint(error);
        return error ? std::string("unknown peer")
                     : cs::Endpoint{endpoint.address().to_string(), endpoint.port()}.to_string();
      }()),
      deadline_timer_(socket_.get_executor()),
      deadlines_(server_.options()) {
  if (server_.options().protocol == cs::Protocol::shift) {
    shift_ = cs::make_session(cs::Protocol::shift, server_.options().session_limits());
  }
  // Replies are built whole and written with one call: Nagle could only
  // delay them (cs::set_nodelay says more).
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  // The shift read's read_some after a readiness wake-up must not block.
  socket_.non_blocking(true, ignored);
}

Session::~Session() {
  const std::uint64_t requests = shift_ ? shift_->requests() : frames_;
  server_.stats().add_connection(requests, bytes_received_, bytes_sent_);
  server_.remove(id_);
}

void Session::start() {
  // Hop onto the strand first: from here on every step of this session runs
  // there, including this one.
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    cs::log_info("session ", self->id_, ": accepted ", self->peer_);
    if (self->shift_) {
      cs::Bytes greeting;
      self->shift_->greet(greeting);
      self->queue_reply(std::move(greeting));
    }
    if (self->deadlines_.enabled()) self->watch_deadlines();
    self->start_reading();
  });
}

void Session::stop(std::string why) {
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), why = std::move(why)] { self->close(why); });
}

void Session::start_reading() {
  if (server_.options().protocol == cs::Protocol::shift) {
    do_read_some();
  } else {
    do_read_header();
  }
}

// Waits until the socket is readable, then reads into the I/O thread's
// buffer (server_setup.hpp: an idle session holds no read buffer).
void Session::do_read_some() {
  socket_.async_wait(
      tcp::socket::wait_read, [self = shared_from_this()](error_code error) {
        std::size_t bytes = 0;
        const asio::mutable_buffer buffer = part5::io_thread_read_buffer();
        if (!error && !self->closed_) bytes = self->socket_.read_some(buffer, error);
        if (error == asio::error::would_block) return self->do_read_some();  // nothing after all
        if (!self->read_completed(error, bytes)) return;
        // The chunk leaves the I/O thread's buffer for the pool: a copy of
        // what arrived, held only while it is computed.
        const auto* data = static_cast<const cs::Byte*>(buffer.data());
        auto chunk = std::make_shared<cs::Bytes>(data, data + bytes);
        auto reply = std::make_shared<cs::Bytes>();
        const Clock::time_point arrived = self->deadlines_.last_activity();
        self->compute(
            [chunk, reply](Session& s) { return s.shift_->on_receive(*chunk, *reply); },
            [reply, arrived](Session& s, const cs::Verdict& verdict) {
              // The request clock starts when the chunk arrived, not when a
              // write that ended during the work was last activity.
              s.deadlines_.after_receive(*s.shift_, arrived);
              if (!reply->empty()) s.queue_reply(std::move(*reply));
              if (verdict.close) return s.finish(verdict.reason);
              if (!s.reading_paused_) s.do_read_some();
            });
      });
}

// Both framed reads pass a completion condition that notes each piece as it
// arrives (part5::noting_progress): a frame trickled in 10 KB at a time is
// not idle, and its first byte, not its whole header, starts its request
// clock.
void Session::do_read_header() {
  asio::async_read(
      socket_, asio::buffer(header_), part5::noting_progress([this] { note_received(); }),
      [self = shared_from_this()](const error_code& error, std::size_t bytes) {
        if (!self->read_completed(error, bytes)) return;
        const std::uint32_t length = cs::read_frame_length(self->header_);
        // Judged on the header alone, before a byte of the body is buffered.
        if (length > self->server_.options().max_frame) {
          cs::log_warn("session ", self->id_, ": frame of ", length, " bytes exceeds --max-frame ",
                       self->server_.options().max_frame);
          return self->finish("oversized frame");
        }
        self->do_read_body(length);
      });
}

void Session::do_read_body(std::uint32_t length) {
  try {
    body_.resize(length);
  } catch (const std::bad_alloc&) {
    // No memory for this one frame (--max-frame may allow up to 1 GiB):
    // this connection's error, not the server's.
    cs::log_warn("session ", id_, ": no memory for a frame of ", length, " bytes");
    return finish("out of memory");
  }
  asio::async_read(
      socket_, asio::buffer(body_), part5::noting_progress([this] { note_received(); }),
      [self = shared_from_this()](const error_code& error, std::size_t bytes) {
        if (!self->read_completed(error, bytes)) return;
        self->deadlines_.frame_complete();
        ++self->frames_;
        auto reply = std::make_shared<cs::Bytes>();
        self->compute(
            [reply](Session& s) {
              *reply = part5::frame_reply(s.body_, s.server_.options().work);
              return cs::Verdict::keep_open();
            },
            [reply](Session& s, const cs::Verdict& verdict) {
              s.queue_reply(std::move(*reply));
              if (verdict.close) return s.finish(verdict.reason);
              if (!s.reading_paused_) s.do_read_header();
            });
      });
}

// Runs `work(session)` (which returns a cs::Verdict) on the worker pool, then
// `then(session, verdict)` on this session's strand. Meanwhile the session
// reads nothing: the members `work` uses (shift_, body_) are the pool's alone,
// no second request of this session can overtake the first, and the pool's
// queue holds at most one request per session (memory stays bounded by the
// sessions, not by what their clients send). Only the strand's handler holds
// the session, so it is never destroyed on a worker thread. The work guard
// keeps the io_context running until the result is back on the strand, so
// shutdown waits for work in flight; if the session was closed meanwhile
// (grace period over, a timeout), the result is dropped, and the client has
// seen whole replies and then the end of the stream.
//
// The guard is on the io_context's own executor, not on the strand, and the
// task's copy of the strand is gone before the guard is: the last copy of a
// strand unlinks it from the io_context's strand service, and if a worker
// dropped that copy after releasing the work, run() could return and the
// io_context be destroyed in between (a use of a destroyed mutex, caught by
// ThreadSanitizer).
template <typename Work, typename Then>
void Session::compute(Work work, Then then) {
  asio::post(*workers, [self = shared_from_this(), work = std::move(work),
                        then = std::move(then),
                        guard = asio::make_work_guard(
                            socket_.get_executor().get_inner_executor())]() mutable {
    cs::Verdict verdict;
    try {
      verdict = work(*self);
    } catch (const std::exception& error) {  // e.g. no memory for a reply: this session's error
      verdict = cs::Verdict::close_because(std::string("request failed: ") + error.what());
    }
    {
      const part5::SessionExecutor strand = self->socket_.get_executor();
      asio::post(strand, [self = std::move(self), then = std::move(then), verdict] {
        if (!self->closed_) then(*self, verdict);
      });
    }  // the strand copy released here, under the guard
  });
}

// The common start of every read's continuation: false when reading ends.
bool Session::read_completed(const error_code& error, std::size_t bytes) {
  if (closed_) return false;  // the socket was closed while the read was queued
  bytes_received_ += bytes;
  if (bytes > 0) note_received();
  if (error == asio::error::eof) {
    finish("client closed");  // a half-close: the replies still go out
    return false;
  }
  if (error) {
    close(error.message());
    return false;
  }
  return true;
}

// The completion conditions of the framed reads and of the write call these
// too, between the pieces of an operation (on the strand, like the rest of
// the session).
void Session::note_received() {
  deadlines_.activity();
  if (!shift_) deadlines_.frame_byte_arrived();
}

void Session::note_sent() { deadlines_.activity(); }

void Session::queue_reply(cs::Bytes reply) {
  if (reply.empty() || closed_) return;
  queued_bytes_ += reply.size();
  write_queue_.push_back(std::move(reply));
  if (queued_bytes_ > max_queued_reply_bytes) reading_paused_ = true;
  if (writing_.empty()) do_write();
}

// Only one write may be in flight on a socket: async_write is a loop of
// write_some calls, and two loops running at once could interleave their
// pieces on the wire. So replies wait in write_queue_, and this handler takes
// all of them at once: one gather write (a buffer sequence), each reply
// whole and in order. Its completion condition notes each piece sent, so a
// client that reads a large reply slowly is not idle.
void Session::do_write() {
  writing_.assign(std::make_move_iterator(write_queue_.begin()),
                  std::make_move_iterator(write_queue_.end()));
  write_queue_.clear();
  write_buffers_.clear();
  for (const cs::Bytes& reply : writing_) write_buffers_.push_back(asio::buffer(reply));
  // A span, not the vector: async_write keeps a copy of the sequence it is
  // given, and a copy of a vector would be an allocation per write.
  asio::async_write(
      socket_, std::span<const asio::const_buffer>(write_buffers_),
      part5::noting_progress([this] { note_sent(); }),
      [self = shared_from_this()](const error_code& error, std::size_t bytes) {
        if (self->closed_) return;
        self->bytes_sent_ += bytes;
        if (bytes > 0) self->note_sent();
        if (error) return self->close(error.message());
        self->queued_bytes_ -= bytes;
        self->writing_.clear();
        if (!self->write_queue_.empty()) {
          self->do_write();
        } else if (self->finish_reason_) {
          return self->close(*self->finish_reason_);
        }
        if (self->reading_paused_ && self->queued_bytes_ <= max_queued_reply_bytes &&
            !self->finish_reason_) {
          self->reading_paused_ = false;
          self->start_reading();
        }
      });
}

// The idle and request timeouts, as in Asio's timeouts example: the timer
// sleeps until the earliest deadline deadlines_ knows; if none has passed
// when it wakes (there was activity meanwhile, or the request completed),
// it sleeps again until the new one. Reads and writes only store times in
// deadlines_ (server_setup.hpp), they never touch the timer.
void Session::watch_deadlines() {
  deadline_timer_.expires_at(deadlines_.next_check(Clock::now()));
  deadline_timer_.async_wait([self = shared_from_this()](const error_code&) {
    if (self->closed_) return;
    if (const auto why = self->deadlines_.expired(Clock::now())) return self->close(*why);
    self->watch_deadlines();
  });
}

void Session::finish(std::string why) {
  if (writing_.empty()) return close(why);
  finish_reason_ = std::move(why);  // do_write's handler closes when the queue is empty
}

void Session::close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  cs::log_info("session ", id_, ": closing ", peer_, ": ", why);
  // Closing cancels the outstanding read, write and wait: their handlers run
  // with operation_aborted, see closed_, and drop the last shared_ptrs.
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  deadline_timer_.cancel();
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line(
      "asio-server-workers",
      "Boost.Asio server: I/O on one io_context's threads, request work on a worker pool");
  command_line.add_threads_option(cs::usable_cpus());
  unsigned worker_count = cs::usable_cpus();
  command_line.app()
      .add_option("--workers", worker_count, "Threads that compute the requests (--work-us)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  const cs::ServerOptions options = command_line.parse(argc, argv);
  asio::thread_pool pool(worker_count);
  // Named "worker" (in /proc/PID/task/*/comm, top -H, gdb), the I/O threads
  // keep the program's name. Each task waits until all have started, so each
  // runs on a thread of its own and every thread gets the name.
  std::latch named(static_cast<std::ptrdiff_t>(worker_count));
  for (unsigned i = 0; i < worker_count; ++i) {
    asio::post(pool, [&named] {
      pthread_setname_np(pthread_self(), "worker");
      named.arrive_and_wait();
    });
  }
  named.wait();
  workers = &pool;
  const int status =
      cs::run_guarded("asio-server-workers", [&] { part5::run_server<Session>(options); });
  pool.join();
  return status;
}
