// Asio coroutine server - the callback server (asio_server.cpp) again, each
// chain of handlers written as one C++20 coroutine that reads top to bottom.
//
// How it works: the same io_context, thread pool, strand per session,
// registry and shutdown (server_skeleton.hpp, shared). A session is three
// coroutines on its strand: reader (read a request, queue its reply), writer
// (the only writer, so one write in flight) and watchdog (the idle and
// request timeouts). Each co_await is where the callback version ended a
// handler; each frame holds the shared_ptr that keeps the session alive. Its
// limit: the callback server's. New since asio_server.cpp: co_spawn,
// awaitable, and timers used as wake-up signals.
//
// Run:  asio-server-coro 9090 --threads 4 --protocol framed
#include "asio_headers.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cs/frame_codec.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using part5::max_queued_reply_bytes;
// Coroutines on the session's strand, its executor named by type as the
// socket's is (part5::SessionExecutor says why).
template <typename T>
using awaitable = asio::awaitable<T, part5::SessionExecutor>;
constexpr asio::use_awaitable_t<part5::SessionExecutor> use_awaitable;

// A steady_timer that never expires is a one-bit signal between coroutines
// on one strand: the waiter awaits it, the notifier cancels it. There is no
// lost wake-up, because a coroutine checks its condition and starts the wait
// without yielding the strand in between.
void wake(part5::SessionTimer& signal) { signal.cancel(); }
awaitable<void> sleep_until_woken(part5::SessionTimer& signal) {
  signal.expires_at(Clock::time_point::max());
  error_code ignored;  // operation_aborted is the wake-up
  co_await signal.async_wait(asio::redirect_error(use_awaitable, ignored));
}

class Session;
// The listener, registry and shutdown of server_skeleton.hpp, around this
// file's Session.
using Server = part5::Server<Session>;

// One connection; see the callback server's Session for the ownership rule.
// Here the shared_ptr lives in each coroutine's frame (the `self`
// parameter), so the session ends when its last coroutine returns.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(part5::SessionSocket socket, Server& server, std::uint64_t id);
  ~Session();

  // Starts serving. Call once, after the server registered the session.
  void start();
  // Closes the connection now, from any thread (posted to the strand).
  void stop(std::string why);

 private:
  awaitable<void> reader(std::shared_ptr<Session> self);
  awaitable<void> writer(std::shared_ptr<Session> self);
  awaitable<void> watchdog(std::shared_ptr<Session> self);
  // One request: read it, queue its reply. False when input ended.
  awaitable<bool> serve_shift_chunk();
  awaitable<bool> serve_frame();
  bool read_completed(const error_code& error, std::size_t bytes);
  void note_received();  // bytes arrived: the idle clock restarts, a frame's begins
  void note_sent();      // bytes left: the idle clock restarts
  void queue_reply(cs::Bytes reply);
  void finish(std::string why);  // no more input: close once the replies are out
  void close(const std::string& why);

  part5::SessionSocket socket_;
  Server& server_;
  const std::uint64_t id_;
  const std::string peer_;
  part5::SessionTimer deadline_timer_;  // the watchdog's
  part5::SessionTimer reply_queued_;    // wakes the writer
  part5::SessionTimer queue_drained_;   // wakes a reader paused by backpressure
  part5::SessionDeadlines deadlines_;

  std::unique_ptr<cs::Session> shift_;  // the shift protocol's state (shift only)
  std::array<cs::Byte, cs::frame_header_length> header_{};  // framed only
  cs::Bytes body_;                                          // framed only

  std::deque<cs::Bytes> write_queue_;  // replies waiting for the writer
  std::size_t queued_bytes_ = 0;
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
      reply_queued_(socket_.get_executor()),
      queue_drained_(socket_.get_executor()),
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
  // All three on the session's strand (the socket's executor). asio::detached
  // would swallow an exception (say bad_alloc for a frame near a large
  // --max-frame) and leave the session half alive; instead a coroutine that
  // throws is logged and closes its own session only.
  const auto strand = socket_.get_executor();
  const auto on_end = [self = shared_from_this()](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      self->stop(std::string("internal error: ") + error.what());
    }
  };
  asio::co_spawn(strand, reader(shared_from_this()), on_end);
  asio::co_spawn(strand, writer(shared_from_this()), on_end);
  if (deadlines_.enabled()) asio::co_spawn(strand, watchdog(shared_from_this()), on_end);
}

void Session::stop(std::string why) {
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), why = std::move(why)] { self->close(why); });
}

awaitable<void> Session::reader([[maybe_unused]] std::shared_ptr<Session> self) {
  cs::log_info("session ", id_, ": accepted ", peer_);
  if (shift_) {
    cs::Bytes greeting;
    shift_->greet(greeting);
    queue_reply(std::move(greeting));
  }
  for (;;) {
    const bool more = shift_ ? co_await serve_shift_chunk() : co_await serve_frame();
    if (!more) co_return;
    // Backpressure: a client that does not read its replies stops being read.
    while (queued_bytes_ > max_queued_reply_bytes && !closed_) {
      co_await sleep_until_woken(queue_drained_);
    }
    if (closed_) co_return;
  }
}

// Waits for readability, then reads into the I/O thread's buffer
// (server_setup.hpp): no co_await between the read and on_receive, so the
// buffer cannot change hands in between, and an idle session holds none.
awaitable<bool> Session::serve_shift_chunk() {
  error_code error;
  co_await socket_.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, error));
  std::size_t bytes = 0;
  const asio::mutable_buffer buffer = part5::io_thread_read_buffer();
  if (!error && !closed_) bytes = socket_.read_some(buffer, error);
  if (error == asio::error::would_block) co_return true;  // nothing after all: wait again
  if (!read_completed(error, bytes)) co_return false;
  cs::Bytes reply;
  const cs::Verdict verdict =
      shift_->on_receive(cs::ByteView(static_cast<const cs::Byte*>(buffer.data()), bytes), reply);
  deadlines_.after_receive(*shift_);
  queue_reply(std::move(reply));
  if (verdict.close) {
    finish(verdict.reason);
    co_return false;
  }
  co_return true;
}

// The callback server's do_read_header and do_read_body, as one function,
// with the same completion condition: each piece of a frame is noted as it
// arrives, so a frame trickled in 10 KB at a time is not idle, and its first
// byte starts its request clock.
awaitable<bool> Session::serve_frame() {
  const auto note_each_piece = part5::noting_progress([this] { note_received(); });
  error_code error;
  std::size_t bytes = co_await asio::async_read(socket_, asio::buffer(header_), note_each_piece,
                                                asio::redirect_error(use_awaitable, error));
  if (!read_completed(error, bytes)) co_return false;
  const std::uint32_t length = cs::read_frame_length(header_);
  if (length > server_.options().max_frame) {
    cs::log_warn("session ", id_, ": frame of ", length, " bytes exceeds --max-frame ",
                 server_.options().max_frame);
    finish("oversized frame");
    co_return false;
  }
  body_.resize(length);
  bytes = co_await asio::async_read(socket_, asio::buffer(body_), note_each_piece,
                                    asio::redirect_error(use_awaitable, error));
  if (!read_completed(error, bytes)) co_return false;
  deadlines_.frame_complete();
  ++frames_;
  queue_reply(part5::frame_reply(body_, server_.options().work));
  co_return true;
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
  wake(reply_queued_);
}

// The one writer of this socket, so one write in flight by construction.
// Each piece sent restarts the idle clock, so a client that reads a large
// reply slowly is not idle.
awaitable<void> Session::writer([[maybe_unused]] std::shared_ptr<Session> self) {
  const auto note_each_piece = part5::noting_progress([this] { note_sent(); });
  std::vector<cs::Bytes> writing;
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (write_queue_.empty()) {
      if (finish_reason_) {  // every reply is out
        close(*finish_reason_);
        co_return;
      }
      co_await sleep_until_woken(reply_queued_);
      continue;
    }
    writing.assign(std::make_move_iterator(write_queue_.begin()),
                   std::make_move_iterator(write_queue_.end()));
    write_queue_.clear();
    buffers.clear();
    for (const cs::Bytes& reply : writing) buffers.push_back(asio::buffer(reply));
    error_code error;
    // A span, not the vector: async_write keeps a copy of its sequence.
    const std::size_t bytes =
        co_await asio::async_write(socket_, std::span<const asio::const_buffer>(buffers),
                                   note_each_piece, asio::redirect_error(use_awaitable, error));
    if (closed_) co_return;
    bytes_sent_ += bytes;
    if (bytes > 0) note_sent();
    if (error) {
      close(error.message());
      co_return;
    }
    queued_bytes_ -= bytes;
    if (queued_bytes_ <= max_queued_reply_bytes) wake(queue_drained_);
  }
}

// The idle and request timeouts: sleeps until the earliest deadline
// deadlines_ knows (server_setup.hpp); reads and writes only store times
// there, they never touch the timer.
awaitable<void> Session::watchdog([[maybe_unused]] std::shared_ptr<Session> self) {
  while (!closed_) {
    deadline_timer_.expires_at(deadlines_.next_check(Clock::now()));
    error_code ignored;
    co_await deadline_timer_.async_wait(asio::redirect_error(use_awaitable, ignored));
    if (closed_) co_return;
    if (const auto why = deadlines_.expired(Clock::now())) close(*why);
  }
}

void Session::finish(std::string why) {
  finish_reason_ = std::move(why);
  wake(reply_queued_);  // the writer closes once the queue is empty
}

void Session::close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  cs::log_info("session ", id_, ": closing ", peer_, ": ", why);
  // Every coroutine of the session is suspended on one of these: each wakes
  // with an error, sees closed_ and returns.
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  deadline_timer_.cancel();
  wake(reply_queued_);
  wake(queue_drained_);
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("asio-server-coro",
                               "Boost.Asio coroutine server: one io_context, a pool of threads");
  command_line.add_threads_option(cs::usable_cpus());
  const cs::ServerOptions options = command_line.parse(argc, argv);
  return cs::run_guarded("asio-server-coro", [&] { part5::run_server<Session>(options); });
}
