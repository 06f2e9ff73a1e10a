// The embeddable client's implementation; see client.hpp for the contract.
//
// Everything below runs on the Client's one background thread, so the state
// needs no lock: public methods only post work to that thread. The
// connection goes through these states:
//
//               connect()                 connected (+ '*' read, shift)
//  disconnected ──────────► connecting ─────────────────────────────► ready
//       ▲                      │ lookup failed / refused / timeout       │
//       │  retry timer         ▼                                         │
//       └──────────────── (fail the queue,  ◄────── lost: EOF, error,  ──┘
//          (backoff)       back off)                 request timeout
//
// Each connection attempt gets a new generation number; every handler
// carries the generation it was started for and does nothing if it is stale.
// That one rule covers every cancelled or superseded operation: a late
// resolve, a connect that finished just as its timer fired, a read on a
// socket that has since been closed and reopened.
#include "client/client.hpp"

#include "asio_headers.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "cs/frame_codec.hpp"

namespace part5 {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::ok: return "ok";
    case Status::lookup_failed: return "lookup_failed";
    case Status::connect_failed: return "connect_failed";
    case Status::connect_timeout: return "connect_timeout";
    case Status::request_timeout: return "request_timeout";
    case Status::connection_lost: return "connection_lost";
    case Status::protocol_error: return "protocol_error";
    case Status::invalid_request: return "invalid_request";
    case Status::client_stopped: return "client_stopped";
  }
  return "unknown";
}

std::string Result::describe() const {
  std::string text(to_string(status));
  if (!detail.empty()) text += ": " + detail;
  return text;
}

namespace {
using Clock = std::chrono::steady_clock;
constexpr std::size_t read_buffer_size = 64 * 1024;
}  // namespace

class Client::Impl {
 public:
  explicit Impl(ClientOptions options);
  ~Impl();

  void request(cs::Bytes payload, Callback done);  // thread-safe
  std::atomic<std::uint64_t> connections{0};

 private:
  struct Pending {
    cs::Bytes payload;
    Callback done;
    Clock::time_point deadline;
  };
  enum class State { disconnected, connecting, ready };

  void enqueue(Pending pending);
  void connect();
  void on_connected(std::uint64_t generation);
  void on_ready();
  void connect_failed(Status status, const std::string& detail);
  void drop_connection(Status status, const std::string& detail, Clock::duration retry_after);
  void schedule_connect(Clock::duration delay);
  void send_next();
  void write_rest(std::uint64_t generation, std::size_t offset);
  void do_read(std::uint64_t generation);
  void on_bytes(cs::ByteView bytes);
  void complete_front(Result result);
  void fail_queue(Status status, const std::string& detail);
  void arm_request_timer();
  void on_request_deadline();
  void close_socket();
  std::string address() const { return options_.host + ":" + std::to_string(options_.port); }

  // Declared first, destroyed last: every object below uses it.
  asio::io_context io_;
  // Keeps run() going while the connection is idle (no operation pending).
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  const ClientOptions options_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  asio::steady_timer connect_timer_;  // bounds lookup + connect + greeting
  asio::steady_timer retry_timer_;    // the backoff before the next attempt
  asio::steady_timer request_timer_;  // the front request's deadline

  State state_ = State::disconnected;
  std::uint64_t generation_ = 0;
  Clock::duration retry_delay_;
  std::string last_error_;  // why the last attempt failed, for timeouts while disconnected
  bool stopped_ = false;

  std::deque<Pending> queue_;  // FIFO; the front is on the wire when in_flight_
  bool in_flight_ = false;
  // A write is on the socket. A shift reply can complete before the last
  // bytes of its request were written (the server answers byte by byte),
  // so the next request waits for this, not only for the reply: one write
  // in flight, and message_ untouched while it is.
  bool writing_ = false;
  cs::Bytes message_;          // the request being written (must outlive the write)
  cs::Bytes shift_reply_;      // shift: reply bytes so far
  std::optional<cs::FrameDecoder> frame_decoder_;  // framed: the reply so far
  std::vector<cs::Byte> read_buffer_;

  std::thread thread_;  // last: started once everything above exists
};

Client::Impl::Impl(ClientOptions options)
    : work_(asio::make_work_guard(io_)),
      options_(std::move(options)),
      resolver_(io_),
      socket_(io_),
      connect_timer_(io_),
      retry_timer_(io_),
      request_timer_(io_),
      retry_delay_(options_.first_retry_delay),
      read_buffer_(read_buffer_size) {
  asio::post(io_, [this] { connect(); });
  thread_ = std::thread([this] { io_.run(); });
}

Client::Impl::~Impl() {
  asio::post(io_, [this] {
    stopped_ = true;
    ++generation_;
    close_socket();
    resolver_.cancel();
    connect_timer_.cancel();
    retry_timer_.cancel();
    request_timer_.cancel();
    fail_queue(Status::client_stopped, "the client was destroyed");
  });
  // run() returns once the cancelled operations' handlers have run.
  work_.reset();
  thread_.join();
}

void Client::Impl::request(cs::Bytes payload, Callback done) {
  Pending pending{std::move(payload), std::move(done), Clock::now() + options_.request_timeout};
  asio::post(io_, [this, pending = std::move(pending)]() mutable { enqueue(std::move(pending)); });
}

void Client::Impl::enqueue(Pending pending) {
  auto refuse = [&](Status status, std::string detail) {
    pending.done(Result{status, {}, std::move(detail)});
  };
  if (stopped_) return refuse(Status::client_stopped, "the client was destroyed");
  if (options_.protocol == cs::Protocol::shift) {
    if (pending.payload.empty()) {
      return refuse(Status::invalid_request, "an empty shift message has no reply to wait for");
    }
    if (std::ranges::find(pending.payload, cs::Byte{'$'}) != pending.payload.end()) {
      return refuse(Status::invalid_request, "a shift message cannot contain '$'");
    }
  } else if (pending.payload.size() > options_.max_frame) {
    return refuse(Status::invalid_request, "payload longer than max_frame");
  }
  queue_.push_back(std::move(pending));
  if (queue_.size() == 1) arm_request_timer();
  send_next();
}

// --- Connecting ----------------------------------------------------------------

void Client::Impl::connect() {
  const std::uint64_t generation = ++generation_;
  state_ = State::connecting;
  writing_ = false;  // the old socket's write, if any, ended with it
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([this, generation](const boost::system::error_code& error) {
    // A timer that expired in the same pass as the connection became ready
    // still runs after the cancel in on_ready(): the state says it lost.
    if (error || generation != generation_ || state_ != State::connecting) return;
    connect_failed(Status::connect_timeout,
                   "no connection to " + address() + " within " +
                       std::to_string(options_.connect_timeout.count()) + " ms");
  });
  // getaddrinfo() blocks, so Asio runs it on an internal thread of its own
  // and posts the result here: the lookup never stalls this thread.
  resolver_.async_resolve(
      options_.host, std::to_string(options_.port), tcp::resolver::numeric_service,
      [this, generation](const boost::system::error_code& error, tcp::resolver::results_type results) {
        if (generation != generation_) return;
        if (error) {
          return connect_failed(Status::lookup_failed,
                                "cannot resolve " + options_.host + ": " + error.message());
        }
        // Tries each address in turn (localhost: ::1, then 127.0.0.1).
        asio::async_connect(socket_, results,
                            [this, generation](const boost::system::error_code& e, const tcp::endpoint&) {
                              if (generation != generation_) return;
                              if (e) {
                                return connect_failed(Status::connect_failed,
                                                      "cannot connect to " + address() + ": " + e.message());
                              }
                              on_connected(generation);
                            });
      });
}

void Client::Impl::on_connected(std::uint64_t generation) {
  boost::system::error_code ignored;
  if (options_.nodelay) socket_.set_option(tcp::no_delay(true), ignored);
  frame_decoder_.emplace(options_.max_frame);
  shift_reply_.clear();
  do_read(generation);
  // A shift server speaks first ('*'); the connection is ready when it has.
  if (options_.protocol == cs::Protocol::framed) on_ready();
}

void Client::Impl::on_ready() {
  connect_timer_.cancel();
  state_ = State::ready;
  retry_delay_ = options_.first_retry_delay;
  connections.fetch_add(1, std::memory_order_relaxed);
  send_next();
}

void Client::Impl::connect_failed(Status status, const std::string& detail) {
  ++generation_;  // whatever else of this attempt is pending is now stale
  close_socket();
  resolver_.cancel();
  connect_timer_.cancel();
  state_ = State::disconnected;
  last_error_ = Result{status, {}, detail}.describe();
  // Requests waiting for this connection learn why it failed now, instead
  // of waiting out their timeout.
  fail_queue(status, detail);
  schedule_connect(retry_delay_);
  retry_delay_ = std::min<Clock::duration>(retry_delay_ * 2, options_.max_retry_delay);
}

// Ends a connection that was ready. The request on the wire, if any, fails
// with `status`; the queued ones wait for the next connection.
void Client::Impl::drop_connection(Status status, const std::string& detail,
                                   Clock::duration retry_after) {
  ++generation_;
  close_socket();
  state_ = State::disconnected;
  last_error_ = Result{status, {}, detail}.describe();
  if (in_flight_) complete_front(Result{status, {}, detail});  // clears in_flight_
  schedule_connect(retry_after);
}

void Client::Impl::schedule_connect(Clock::duration delay) {
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error && !stopped_) connect();
  });
}

void Client::Impl::close_socket() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

// --- Requests --------------------------------------------------------------------

void Client::Impl::send_next() {
  if (state_ != State::ready || in_flight_ || writing_ || queue_.empty()) return;
  in_flight_ = true;
  writing_ = true;
  const cs::Bytes& payload = queue_.front().payload;
  // The whole request in one buffer, so it leaves in one write (and, with
  // Nagle on, in one segment if it fits: nothing waits for an ACK).
  message_.clear();
  std::size_t head_length = 0;
  if (options_.protocol == cs::Protocol::shift) {
    message_.push_back('^');
    head_length = 1;
    message_.insert(message_.end(), payload.begin(), payload.end());
    message_.push_back('$');
  } else {
    cs::append_frame(payload, message_);
    head_length = cs::frame_header_length;
  }
  const std::uint64_t generation = generation_;
  // --split-writes: the header alone first, the rest once it is written.
  const std::size_t first = options_.split_writes ? head_length : message_.size();
  asio::async_write(socket_, asio::buffer(message_.data(), first),
                    [this, generation, first](const boost::system::error_code& error, std::size_t) {
                      if (generation != generation_) return;
                      if (error) return drop_connection(Status::connection_lost, error.message(), {});
                      if (first < message_.size()) return write_rest(generation, first);
                      writing_ = false;
                      send_next();
                    });
}

void Client::Impl::write_rest(std::uint64_t generation, std::size_t offset) {
  asio::async_write(socket_, asio::buffer(message_.data() + offset, message_.size() - offset),
                    [this, generation](const boost::system::error_code& error, std::size_t) {
                      if (generation != generation_) return;
                      if (error) return drop_connection(Status::connection_lost, error.message(), {});
                      writing_ = false;
                      send_next();
                    });
}

// One read is always pending while connected, even with no request on the
// wire, so a server that goes away is noticed at once, not on the next request.
void Client::Impl::do_read(std::uint64_t generation) {
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      [this, generation](const boost::system::error_code& error, std::size_t bytes) {
        if (generation != generation_) return;
        if (error) {
          const std::string why = error == asio::error::eof
                                      ? "the server closed the connection"
                                      : error.message();
          if (state_ == State::connecting) return connect_failed(Status::connect_failed, why);
          return drop_connection(Status::connection_lost,
                                 why + (in_flight_ ? " before the reply was complete; the "
                                                     "request may or may not have been processed"
                                                   : ""),
                                 retry_delay_);
        }
        on_bytes(cs::ByteView(read_buffer_.data(), bytes));
        if (generation == generation_) do_read(generation);
      });
}

void Client::Impl::on_bytes(cs::ByteView bytes) {
  if (state_ == State::connecting) {  // shift: the greeting
    if (bytes.front() != '*') {
      return connect_failed(Status::protocol_error, "the server did not greet with '*'");
    }
    bytes = bytes.subspan(1);
    on_ready();
    if (bytes.empty()) return;
  }
  if (!in_flight_) {
    return drop_connection(Status::protocol_error, "bytes arrived with no request on the wire",
                           {});
  }
  if (options_.protocol == cs::Protocol::shift) {
    shift_reply_.insert(shift_reply_.end(), bytes.begin(), bytes.end());
    const std::size_t expected = queue_.front().payload.size();
    if (shift_reply_.size() > expected) {
      return drop_connection(Status::protocol_error, "a longer reply than the message", {});
    }
    if (shift_reply_.size() == expected) {
      complete_front(Result{Status::ok, std::exchange(shift_reply_, {}), {}});
      send_next();
    }
    return;
  }
  frame_decoder_->feed(bytes);
  if (frame_decoder_->error()) {
    return drop_connection(Status::protocol_error, *frame_decoder_->error(), {});
  }
  if (auto frame = frame_decoder_->next()) {
    if (frame_decoder_->buffered() > 0) {
      return drop_connection(Status::protocol_error, "more than one reply frame", {});
    }
    complete_front(Result{Status::ok, cs::Bytes(frame->begin(), frame->end()), {}});
    send_next();
  }
}

void Client::Impl::complete_front(Result result) {
  Pending pending = std::move(queue_.front());
  queue_.pop_front();
  in_flight_ = false;
  arm_request_timer();
  pending.done(std::move(result));
}

void Client::Impl::fail_queue(Status status, const std::string& detail) {
  std::deque<Pending> failed = std::exchange(queue_, {});
  in_flight_ = false;
  arm_request_timer();
  for (Pending& pending : failed) pending.done(Result{status, {}, detail});
}

// One timer serves the whole queue: requests are queued in order with the
// same timeout, so the front always has the earliest deadline.
void Client::Impl::arm_request_timer() {
  if (queue_.empty()) {
    request_timer_.cancel();
    return;
  }
  request_timer_.expires_at(queue_.front().deadline);
  request_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error && !stopped_) on_request_deadline();
  });
}

void Client::Impl::on_request_deadline() {
  // A wait that completed just before the timer was re-armed for a later
  // front arrives here too: the deadline, not the wake-up, decides.
  if (queue_.empty() || Clock::now() < queue_.front().deadline) return arm_request_timer();
  const std::string limit = std::to_string(options_.request_timeout.count()) + " ms";
  if (in_flight_) {
    // The reply may still come, and would then be taken for the next
    // request's: the connection cannot be trusted any more. Reconnect now.
    return drop_connection(Status::request_timeout, "no reply within " + limit, {});
  }
  const std::string why = state_ == State::ready
                              ? "still queued behind other requests after " + limit
                              : "not connected within " + limit + " (last: " + last_error_ + ")";
  complete_front(Result{Status::request_timeout, {}, why});
}

// --- Client ------------------------------------------------------------------------

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() = default;

void Client::request(cs::Bytes payload, Callback done) {
  impl_->request(std::move(payload), std::move(done));
}

std::future<Result> Client::request(cs::Bytes payload) {
  auto promise = std::make_shared<std::promise<Result>>();
  std::future<Result> future = promise->get_future();
  impl_->request(std::move(payload),
                 [promise](Result result) { promise->set_value(std::move(result)); });
  return future;
}

std::uint64_t Client::connections() const {
  return impl_->connections.load(std::memory_order_relaxed);
}

}  // namespace part5
