// Epoll server - one thread serves every client by reacting to readiness
// events (the reactor pattern).
//
// How it works: every socket is non-blocking and watched by one epoll
// instance; the loop waits in epoll_wait, then takes, for each ready socket,
// the one step that cannot block: accept what is pending, recv one chunk and
// feed it to the connection's cs::Session, or send what its output buffer
// holds. A client that does not read its replies has its reads paused
// (backpressure); idle clients, and requests that take too long to arrive,
// are closed by deadlines the loop computes.
// Its limit: one thread, so one core. New since part 3: no threads at all,
// so an idle client costs a small struct instead of a blocked thread.
//
// Run:  epoll-server 9090 --protocol framed --idle-timeout-ms 30000
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>

#include <CLI/CLI.hpp>

#include "cs/acceptor.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// One recv() takes at most this much; the replies to it go out with one
// send(). The loop owns a single buffer of this size for all connections
// (it serves one at a time), so it costs nothing per connection.
constexpr std::size_t receive_buffer_size = 64 * 1024;
// Stop reading from a client once this many reply bytes wait for it to read
// (--output-limit). Shift answers a byte with at most a byte, so one chunk's
// replies are never bigger than the chunk. Framed answers a frame with a
// frame of the same length once the frame is complete, so a small chunk that
// completes a frame adds that whole frame's reply (up to --max-frame plus
// its header). A connection's buffer therefore never passes the limit by
// more than one chunk plus one frame: receive_buffer_size + --max-frame +
// cs::frame_header_length.
constexpr std::size_t default_output_limit = 256 * 1024;
// A drained output buffer keeps its memory for the next replies, unless a
// burst grew it past this: then it is freed, so idle connections stay small.
constexpr std::size_t kept_output_capacity = receive_buffer_size;
// Events taken from the kernel per epoll_wait; more simply wait for the next.
constexpr int max_events = 256;

// A connection's life, as the loop drives it (docs/part4_epoll.md draws it).
enum class State {
  reading,   // watching for input; also for output room while replies wait
  paused,    // more than --output-limit bytes unsent: input is not read
             // until every reply is sent (backpressure)
  draining,  // no more input (EOF, or a protocol error): send what is left,
             // then close
};

// One client. Created by the loop on accept, destroyed by close_connection();
// its socket closes with it, which also takes it out of the epoll set.
struct Connection {
  cs::FileDescriptor fd;
  cs::Endpoint peer;
  std::unique_ptr<cs::Session> session;
  State state = State::reading;
  // Replies not yet taken by the kernel are output[output_sent..]. Sending
  // advances output_sent instead of erasing from the front, which would move
  // the rest of the buffer after every partial send.
  cs::Bytes output;
  std::size_t output_sent = 0;
  std::uint32_t watched = 0;  // the events registered with epoll right now
  Clock::time_point last_activity;
  std::list<Connection*>::iterator idle_position;  // its place in idle_order_
  // --request-timeout-ms: the deadline of the request under way, if any, and
  // then the connection's place in request_order_.
  cs::RequestTimer request_timer{std::chrono::milliseconds(0)};
  std::optional<std::list<Connection*>::iterator> request_position;
  // Why a draining connection will close once its output is sent.
  cs::LogLevel end_level = cs::LogLevel::info;
  std::string end_reason;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;

  std::size_t unsent() const { return output.size() - output_sent; }
};

// The error a socket reported with EPOLLERR, as a phrase for the log.
std::string pending_error(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  return error != 0 ? std::strerror(error) : "socket error";
}

class EpollServer {
 public:
  // Tuning beyond the shared command line.
  struct Buffers {
    std::size_t output_limit = default_output_limit;  // --output-limit
    int send_buffer = 0;  // --send-buffer: SO_SNDBUF of each client socket; 0 = the kernel's
  };

  EpollServer(const cs::ServerOptions& options, Buffers buffers, const cs::StopSignal& stop);

  // Serves until a stop is requested and every connection has ended (or the
  // grace period has), then prints the summary line. Throws SetupError if
  // the listener cannot be made; std::system_error if epoll itself fails.
  void run();

 private:
  // --- the loop's steps -----------------------------------------------------
  void accept_clients(Clock::time_point now);
  void add_connection(cs::FileDescriptor fd, cs::Endpoint peer, Clock::time_point now);
  void on_connection_event(Connection& connection, std::uint32_t events, Clock::time_point now);
  // These return false when they closed the connection (it is gone then).
  bool read_chunk(Connection& connection, Clock::time_point now);
  bool send_output(Connection& connection, Clock::time_point now);
  void settle(Connection& connection);
  void close_connection(Connection& connection, cs::LogLevel level, const std::string& why);
  void begin_shutdown();
  void expire_deadlines(Clock::time_point now);
  int next_timeout_ms() const;
  void update_listener(Clock::time_point now);

  void touch(Connection& connection, Clock::time_point now);
  void track_request(Connection& connection, Clock::time_point now);
  bool has_room() const;
  void control(int op, int fd, std::uint32_t events) const;

  const cs::ServerOptions& options_;
  const Buffers buffers_;
  const cs::StopSignal& stop_;
  cs::FileDescriptor epoll_;
  cs::FileDescriptor listener_;  // closed (empty) once the stop is seen
  bool listener_watched_ = false;
  // Set after EMFILE and friends: accept nothing until then (see accept_clients).
  std::optional<Clock::time_point> accept_paused_until_;
  // Set once the stop is seen: every connection still open then is closed.
  std::optional<Clock::time_point> grace_deadline_;
  // Keyed by descriptor, which is also what each epoll event carries: an
  // event names a connection by a number, never by a pointer that could
  // dangle. Values are pointers so that a Connection never moves.
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  // Every connection, least recently active first. All share one idle
  // timeout, so this order is also the order of their idle deadlines: the
  // front is the next to expire, and moving a connection to the back on
  // activity is O(1). With a timeout per connection this would have to be a
  // heap or a timer wheel (docs/part4_epoll.md, "Idle timeouts").
  std::list<Connection*> idle_order_;
  // The connections with a request under way, oldest request first. Every
  // request gets the same --request-timeout-ms from its first byte, so this
  // is also the order of their request deadlines, for the same reason.
  std::list<Connection*> request_order_;
  std::array<cs::Byte, receive_buffer_size> receive_buffer_{};
  // accept() failing for lack of descriptors repeats every back-off period
  // for as long as they are used up: one log line per interval says so.
  cs::RepeatLimiter accept_warnings_;
  cs::ServerStats stats_;
};

EpollServer::EpollServer(const cs::ServerOptions& options, Buffers buffers,
                         const cs::StopSignal& stop)
    : options_(options), buffers_(buffers), stop_(stop) {}

void EpollServer::control(int op, int fd, std::uint32_t events) const {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), op, fd, &event) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
}

void EpollServer::run() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) {
    throw cs::SetupError(std::string("cannot create an epoll instance: ") + std::strerror(errno) +
                         " (raise the descriptor limit: ulimit -n)");
  }
  listener_ = cs::listen_tcp(options_.host, options_.port, options_.backlog);
  // Non-blocking, so that accept_clients() can take connections until the
  // backlog is empty (EAGAIN) without ever sleeping in accept().
  const int flags = ::fcntl(listener_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(listener_.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    throw cs::SetupError(std::string("cannot make the listener non-blocking: ") +
                         std::strerror(errno));
  }
  // Every registration is level-triggered (no EPOLLET): epoll reports a
  // socket for as long as it is readable (or writable), not once per change.
  // So the loop may read one chunk per wakeup and leave the rest for the next
  // (one busy client cannot starve the others, and nothing is lost), and
  // pausing a client is just leaving EPOLLIN out of its registration.
  // The price: EPOLLOUT is registered only while replies wait, or the loop
  // would wake for every writable socket all the time.
  control(EPOLL_CTL_ADD, stop_.wait_fd(), EPOLLIN);
  update_listener(Clock::now());
  cs::announce_listening(cs::local_endpoint(listener_.get()));

  std::array<epoll_event, max_events> events;
  while (!grace_deadline_ || !connections_.empty()) {
    const int ready = ::epoll_wait(epoll_.get(), events.data(), max_events, next_timeout_ms());
    if (ready < 0) {
      if (errno == EINTR) continue;  // a signal; the stop pipe says if it was SIGTERM
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    const Clock::time_point now = Clock::now();
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if (!grace_deadline_ && fd == stop_.wait_fd()) {
        begin_shutdown();
      } else if (listener_ && fd == listener_.get()) {
        accept_clients(now);
      } else if (const auto found = connections_.find(fd); found != connections_.end()) {
        on_connection_event(*found->second, events[i].events, now);
      }
      // Anything else is an event for a descriptor closed earlier in this
      // batch (the listener, after the stop): nothing to do.
    }
    expire_deadlines(Clock::now());
    update_listener(Clock::now());
  }
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats_.summary());  // even with --quiet
}

bool EpollServer::has_room() const {
  return options_.max_clients == 0 || connections_.size() < options_.max_clients;
}

// Watches the listener only while accepting makes sense: not after the
// stop, not during an EMFILE back-off, not at --max-clients. While it is not
// watched, new clients wait in the kernel's backlog, as in parts 2 and 3.
void EpollServer::update_listener(Clock::time_point now) {
  if (accept_paused_until_ && now >= *accept_paused_until_) accept_paused_until_.reset();
  const bool wanted = listener_ && !accept_paused_until_ && has_room();
  if (wanted == listener_watched_) return;
  control(wanted ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listener_.get(), EPOLLIN);
  listener_watched_ = wanted;
}

// Takes every pending connection, up to one backlog's worth per wakeup: the
// backlog holds at most that many, and a flood of new clients then cannot
// keep the loop from the clients it already has (the listener stays
// readable, so the next wakeup takes the rest).
void EpollServer::accept_clients(Clock::time_point now) {
  for (int taken = 0; taken < options_.backlog && has_room(); ++taken) {
    // SOCK_NONBLOCK: the new socket is non-blocking from birth, with no
    // fcntl() afterwards.
    cs::Accepted accepted = cs::accept_client(listener_.get(), SOCK_NONBLOCK);
    switch (accepted.kind) {
      case cs::Accepted::Kind::client:
        add_connection(std::move(accepted.fd), std::move(accepted.peer), now);
        break;
      case cs::Accepted::Kind::retry:
        if (accepted.error == EAGAIN || accepted.error == EWOULDBLOCK) return;  // drained
        break;
      case cs::Accepted::Kind::exhausted:
        // The pending client stays in the backlog, so the listener stays
        // readable and a level-triggered loop would wake at once, again and
        // again, at 100% CPU. Unwatch it for a while instead.
        cs::log_warn_limited(accept_warnings_, "accept: ", std::strerror(accepted.error),
                             "; retrying in ", cs::accept_backoff.count(), " ms");
        accept_paused_until_ = now + cs::accept_backoff;
        return;
      case cs::Accepted::Kind::fatal:
        throw std::runtime_error(std::string("accept failed: ") + std::strerror(accepted.error));
    }
  }
}

void EpollServer::add_connection(cs::FileDescriptor fd, cs::Endpoint peer,
                                 Clock::time_point now) {
  cs::set_nodelay(fd.get());
  if (buffers_.send_buffer > 0) {
    // A fixed size turns off Linux's send buffer autotuning, which on
    // loopback grows it to megabytes: replies then back up into this
    // server's own buffer (and trigger the pause) after kilobytes instead.
    // Failure only leaves the kernel's default, so it is not checked.
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &buffers_.send_buffer,
                 sizeof buffers_.send_buffer);
  }
  auto owned = std::make_unique<Connection>();
  Connection& connection = *owned;
  connection.fd = std::move(fd);
  connection.peer = std::move(peer);
  connection.session = cs::make_session(options_.protocol, options_.session_limits());
  connection.request_timer = cs::RequestTimer(options_.request_timeout);
  connection.last_activity = now;
  connection.idle_position = idle_order_.insert(idle_order_.end(), &connection);
  connections_.emplace(connection.fd.get(), std::move(owned));
  cs::log_info("accepted ", connection.peer.to_string());

  connection.session->greet(connection.output);
  if (send_output(connection, now)) settle(connection);
}

// Reads the connection's events in the order that frees resources first:
// an error ends it; room to write sends what waits (which may lift a
// pause); then one chunk of input is read.
void EpollServer::on_connection_event(Connection& connection, std::uint32_t events,
                                      Clock::time_point now) {
  if (events & EPOLLERR) {
    close_connection(connection, cs::LogLevel::info, pending_error(connection.fd.get()));
    return;
  }
  if ((events & EPOLLHUP) && connection.state != State::reading) {
    // Both directions are shut (a reset, usually) and there is no input to
    // read: the replies that wait can never be delivered.
    close_connection(connection, cs::LogLevel::info, "connection hung up");
    return;
  }
  if ((events & EPOLLOUT) && !send_output(connection, now)) return;
  // EPOLLHUP while reading: recv() says what is left (data, EOF or an error).
  if ((events & (EPOLLIN | EPOLLHUP)) && connection.state == State::reading &&
      !read_chunk(connection, now)) {
    return;
  }
  settle(connection);
}

// One recv(), never more: with level triggering, input left in the socket is
// reported again by the next epoll_wait, after every other ready client has
// had its turn.
bool EpollServer::read_chunk(Connection& connection, Clock::time_point now) {
  const ssize_t n = cs::recv_some(connection.fd.get(), receive_buffer_);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;  // nothing after all
    close_connection(connection, cs::LogLevel::info, std::strerror(errno));
    return false;
  }
  if (n == 0) {  // EOF: the client sends no more, but may still read
    connection.state = State::draining;
    connection.end_reason = "client closed";
    return send_output(connection, now);
  }
  connection.bytes_received += static_cast<std::uint64_t>(n);
  touch(connection, now);
  // Drop the bytes already sent before appending more, when that moves no
  // more than it frees (so the copying stays linear in the bytes sent).
  if (connection.output_sent > 0 && connection.output_sent >= connection.unsent()) {
    connection.output.erase(connection.output.begin(),
                            connection.output.begin() +
                                static_cast<std::ptrdiff_t>(connection.output_sent));
    connection.output_sent = 0;
  }
  const bool was_waiting_for_room = connection.unsent() > 0;
  const cs::Verdict verdict = connection.session->on_receive(
      cs::ByteView(receive_buffer_.data(), static_cast<std::size_t>(n)), connection.output);
  track_request(connection, now);
  if (verdict.close) {
    connection.state = State::draining;
    connection.end_level = cs::LogLevel::warn;
    connection.end_reason = verdict.reason;
  }
  // All of this chunk's replies go out with one send() now, unless earlier
  // replies still wait for room: then they all go when EPOLLOUT says so.
  if (was_waiting_for_room) return true;
  return send_output(connection, now);
}

// One send() of everything that waits. What the kernel does not take stays
// in the buffer until EPOLLOUT reports room.
bool EpollServer::send_output(Connection& connection, Clock::time_point now) {
  if (connection.unsent() == 0) return true;
  const ssize_t n = cs::send_some(
      connection.fd.get(), cs::ByteView(connection.output).subspan(connection.output_sent));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;  // full: wait for EPOLLOUT
    close_connection(connection, cs::LogLevel::info, std::strerror(errno));
    return false;
  }
  connection.output_sent += static_cast<std::size_t>(n);
  connection.bytes_sent += static_cast<std::uint64_t>(n);
  touch(connection, now);
  if (connection.unsent() == 0) {
    connection.output.clear();
    connection.output_sent = 0;
    if (connection.output.capacity() > kept_output_capacity) cs::Bytes().swap(connection.output);
  }
  return true;
}

// After a step: moves the connection to the state its buffer calls for and
// registers exactly the events that state waits for.
void EpollServer::settle(Connection& connection) {
  const std::size_t unsent = connection.unsent();
  if (connection.state == State::draining && unsent == 0) {
    close_connection(connection, connection.end_level, connection.end_reason);
    return;
  }
  if (connection.state == State::paused && unsent == 0) {
    connection.state = State::reading;
    cs::log_info("resuming reads from ", connection.peer.to_string());
  } else if (connection.state == State::reading && unsent > buffers_.output_limit) {
    connection.state = State::paused;
    cs::log_info("pausing reads from ", connection.peer.to_string(), ": ", unsent,
                 " bytes unsent (limit ", buffers_.output_limit, ")");
  }
  const std::uint32_t wanted = (connection.state == State::reading ? EPOLLIN : 0u) |
                               (unsent > 0 ? EPOLLOUT : 0u);
  if (wanted == connection.watched) return;
  epoll_event event{};
  event.events = wanted;
  event.data.fd = connection.fd.get();
  const int op = connection.watched == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (::epoll_ctl(epoll_.get(), op, connection.fd.get(), &event) != 0) {
    // Out of kernel memory for this one registration: this client goes,
    // the others stay.
    close_connection(connection, cs::LogLevel::error,
                     std::string("cannot watch it: ") + std::strerror(errno));
    return;
  }
  connection.watched = wanted;
}

void EpollServer::touch(Connection& connection, Clock::time_point now) {
  connection.last_activity = now;
  idle_order_.splice(idle_order_.end(), idle_order_, connection.idle_position);
}

// After the session took a chunk: a request that began in it joins the back
// of request_order_ (its deadline is the latest of all), one that completed
// leaves it.
void EpollServer::track_request(Connection& connection, Clock::time_point now) {
  const auto before = connection.request_timer.deadline();
  connection.request_timer.after_receive(*connection.session, now);
  if (connection.request_timer.deadline() == before) return;
  if (connection.request_position) request_order_.erase(*connection.request_position);
  connection.request_position.reset();
  if (connection.request_timer.deadline()) {
    connection.request_position = request_order_.insert(request_order_.end(), &connection);
  }
}

void EpollServer::close_connection(Connection& connection, cs::LogLevel level,
                                   const std::string& why) {
  cs::log(level, "closing ", connection.peer.to_string(), ": ", why);
  stats_.add_connection(connection.session->requests(), connection.bytes_received,
                        connection.bytes_sent);
  idle_order_.erase(connection.idle_position);
  if (connection.request_position) request_order_.erase(*connection.request_position);
  // Destroys the connection; closing its socket also removes it from epoll.
  connections_.erase(connection.fd.get());
}

// The stop pipe became readable: stop accepting, and give every open
// connection until the grace deadline. The pipe stays readable for good, so
// it leaves the epoll set, or every wait would return at once.
void EpollServer::begin_shutdown() {
  grace_deadline_ = stop_.stop_time() + options_.shutdown_grace;
  control(EPOLL_CTL_DEL, stop_.wait_fd(), 0);
  if (listener_watched_) control(EPOLL_CTL_DEL, listener_.get(), 0);
  listener_watched_ = false;
  // Clients still waiting in the backlog were never accepted: closing the
  // listener resets them, so they fail at once instead of hanging.
  listener_.reset();
  cs::log_info("stopping: no new connections; ", connections_.size(),
               " open may go on for ", options_.shutdown_grace.count(), " ms");
}

void EpollServer::expire_deadlines(Clock::time_point now) {
  if (grace_deadline_ && now >= *grace_deadline_) {
    while (!connections_.empty()) {
      close_connection(*connections_.begin()->second, cs::LogLevel::info,
                       "shutdown grace period over");
    }
    return;
  }
  while (!request_order_.empty() && request_order_.front()->request_timer.expired(now)) {
    close_connection(*request_order_.front(), cs::LogLevel::info,
                     "request not complete after " +
                         std::to_string(options_.request_timeout.count()) + " ms");
  }
  if (options_.idle_timeout.count() <= 0) return;
  while (!idle_order_.empty() &&
         idle_order_.front()->last_activity + options_.idle_timeout <= now) {
    close_connection(*idle_order_.front(), cs::LogLevel::info,
                     "idle for " + std::to_string(options_.idle_timeout.count()) + " ms");
  }
}

// How long epoll_wait may sleep: until the earliest deadline (grace, the
// oldest connection's idle deadline, the oldest request's deadline, the end
// of an accept back-off), or for
// ever if there is none. Rounded up, so the loop never wakes just before a
// deadline only to sleep again for 0 ms.
int EpollServer::next_timeout_ms() const {
  std::optional<Clock::time_point> earliest = grace_deadline_;
  const auto consider = [&earliest](Clock::time_point deadline) {
    if (!earliest || deadline < *earliest) earliest = deadline;
  };
  if (options_.idle_timeout.count() > 0 && !idle_order_.empty()) {
    consider(idle_order_.front()->last_activity + options_.idle_timeout);
  }
  if (!request_order_.empty()) consider(*request_order_.front()->request_timer.deadline());
  if (accept_paused_until_) consider(*accept_paused_until_);
  if (!earliest) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*earliest - Clock::now()).count();
  return static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line(
      "epoll-server", "Epoll TCP server: one thread serves every client from an event loop");
  command_line.add_max_clients_option();
  EpollServer::Buffers buffers;
  command_line.app()
      .add_option("--output-limit", buffers.output_limit,
                  "Unsent reply bytes at which the server stops reading from a client "
                  "until it has read them all")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  command_line.app()
      .add_option("--send-buffer", buffers.send_buffer,
                  "Kernel send buffer (SO_SNDBUF) of each client socket; 0 = the kernel's "
                  "default, which grows with traffic")
      ->check(CLI::Range(0, 64 << 20))
      ->capture_default_str();
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("epoll-server", [&] {
    EpollServer server(options, buffers, stop);
    server.run();
  });
}
