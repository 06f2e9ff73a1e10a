// The connection state machine, written once for both ports, and the part
// of an engine every connection relies on (EngineCore, below).
//
// Everything a connection does that is not a platform difference lives
// here: the queues of reads and writes the server issued, the rule of one
// receive and one send in the kernel at a time, the output limit, half-close,
// the closing policies, the idle clock, and the ordering of notifications.
// A port (uring/uring_server.cpp, iocp/iocp_server.cpp) derives from
// ConnectionCore and supplies the few things that are: how to start a
// receive or a send, how to cancel, how to close the socket, and how to get
// onto an I/O thread. It calls recv_finished() and send_finished() when the
// kernel hands back an operation, with the platform's result translated
// into an Outcome.
//
// The states of one connection (each box is a set of flags below):
//
//   open ──close()──> closing notified ──on_connection_closing──┬─ false ──> framework closing
//    │                                                           └─ true ───> taken over
//    │                                                                         │ close() again
//    │                                                                         v
//    │                                                               framework closing
//    │                                              (no new reads; the recv in the kernel
//    │                                               is cancelled; queued writes go out)
//    │                                                                         │ writes done,
//    │                                                                         │ nothing in flight
//    ├──abort(), reset, error, a throwing notification──> aborting            v
//    │      (queues dropped; every operation cancelled)  ───────────────> closed (socket closed,
//    │                                                   nothing in flight  on_connection_closed)
//    └──EOF──> on_client_closed (reads end; writes may go on) ──> close() as above
//
// Who may close the socket: only advance_close_locked(), and only when no
// operation is in the kernel (in_flight_ == 0). An operation in flight names
// the socket; closed early, the handle or descriptor number could be reused
// by the next accept and the late operation would act on another client.
//
// Locking: a connection's mutex_ guards its fields. Events are recorded
// under it with a ticket from the Sequencer and delivered after it is
// released, because notifications call back into this object. The port's
// hooks that end in _locked are called with mutex_ held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cpf/connection.hpp"
#include "cpf/server.hpp"
#include "cs/log.hpp"
#include "event.hpp"
#include "output_queue.hpp"
#include "sequencer.hpp"
#include "timers.hpp"

namespace cpf::detail {

class ConnectionCore;

// The part of an engine that is no platform difference: what a connection
// needs of it, and the registry of live connections that stop(), the timer
// sweep, the connection limit and counters() work from.
class EngineCore {
 public:
  explicit EngineCore(Server& owner) : owner_(owner) {}
  virtual ~EngineCore() = default;
  EngineCore(const EngineCore&) = delete;
  EngineCore& operator=(const EngineCore&) = delete;

  // What cpf::Server's public calls become (src/server.cpp); each port
  // implements them.
  virtual void start() = 0;
  virtual void stop(std::chrono::milliseconds grace) = 0;
  virtual void post(std::function<void()> task) = 0;
  virtual std::uint16_t port() const = 0;
  virtual std::string address() const = 0;
  // Written once (src/accepting.cpp and connection_core.cpp).
  void pause_accepting();
  void resume_accepting();
  Counters counters() const;

  // A connection's on_connection_closed was delivered: it leaves the
  // registry, and accepting may go on if the connection limit held it back.
  void forget(Connection::Id id);
  // A connection's socket was closed, just before its on_connection_closed
  // is recorded: counted now, so that notification sees the count without it.
  void socket_closed() { active_.fetch_sub(1); }

  Server& owner_;
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  OutputTotals output_totals_;

 protected:
  Connection::Id next_id() { return next_id_.fetch_add(1); }
  // Registers a new connection and delivers its on_connection_established.
  void establish(const std::shared_ptr<ConnectionCore>& connection);
  // Idle timeouts and deadlines: every connection checks its clocks.
  void sweep(Clock::time_point now);
  // Steps 2 and 3 of stop(), once nothing is accepted any more: the
  // server's on_server_stopping, the grace period for connections to
  // finish on their own, then an abort for the rest. Returns when every
  // connection's on_connection_closed was delivered.
  void close_connections(Clock::time_point deadline);
  // How many more connections --max-connections admits now (SIZE_MAX
  // without a limit).
  std::size_t admissible() const;

  // --- Accepting (src/accepting.cpp) ---------------------------------------
  // The accept step is written once over the port's hooks below, as the
  // connection is over ConnectionCore's. It keeps up to accepts_wanted()
  // accepts in the kernel (fewer under a connection limit, so no client is
  // accepted beyond it); an accept that completes while accepting is paused
  // is parked and served on resume; running out of descriptors or memory
  // backs off for cs::accept_backoff instead of failing again at once; any
  // other failure ends accepting, and connections already open go on.
  //
  //   accepting ──pause_accepting()──> paused (accepts cancelled; one that
  //     │  ^                              │    completes anyway is parked)
  //     │  └──────resume_accepting()──────┘    (parked ones served first)
  //     ├──out of descriptors/memory──> backing off ──timer──> accepting
  //     ├──any other failure──> broken (no more accepts; a log line says why)
  //     └──stop()──> stopping (accepts cancelled and waited for, parked
  //                  sockets and the listener closed)

  // A socket the kernel accepted that is not a connection yet.
  struct Accepted {
    std::uintptr_t socket = 0;  // the port's SOCKET or descriptor
    std::string peer;
  };
  // What became of an accept, in the platform's terms translated by the port.
  struct AcceptOutcome {
    enum class Kind {
      accepted,   // `accepted` holds the new socket
      gone,       // cancelled (pause or stop), or the client left before we took it
      exhausted,  // out of descriptors or memory: back off and try again
      failed,     // anything else: accepting ends
    };
    Kind kind = Kind::gone;
    Accepted accepted;
    std::string error;  // exhausted, failed: what happened, for the log
  };

  // The port's calls: arm the first accepts once the listener is open, an
  // accept came back, the back-off timer fired, and stop()'s first step.
  void start_accepting();
  void accept_finished(AcceptOutcome outcome);
  void backoff_finished();
  void stop_accepting();

  // The port's part, called with accept_mutex_ held.
  virtual std::size_t accepts_wanted() const = 0;  // how many to keep in the kernel
  // Start one accept; nothing when it was issued (its completion will come),
  // or why it could not be (kind exhausted or failed).
  virtual std::optional<AcceptOutcome> issue_accept_locked() = 0;
  virtual void cancel_accepts_locked() = 0;  // every accept in the kernel
  virtual void start_backoff_timer_locked() = 0;  // backoff_finished() after cs::accept_backoff
  virtual void close_listener_locked() = 0;
  virtual void discard_accepted(const Accepted& accepted) = 0;  // close it unserved
  // The port's part, called without accept_mutex_.
  virtual void establish_accepted(Accepted accepted) = 0;  // make it a connection
  virtual bool in_io_thread() const = 0;

  // Operations handed to the kernel (or posted) and not yet handled: each
  // is counted when issued and once more when its completion was handled,
  // and stop() waits for none before it ends the I/O threads.
  void operation_issued() { ops_in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void operation_handled();
  void wait_for_no_operations();
  // Runs a task given to post() on an I/O thread; what it throws is logged,
  // never let into the I/O loop.
  static void run_posted(const std::function<void()>& task) noexcept;

 private:
  void wait_for_no_connections(std::optional<Clock::time_point> deadline);
  void arm_accepts_locked();
  void back_off_locked(const std::string& error);

  // Accepting. accept_mutex_ is taken before any lock of the port's, never after.
  mutable std::mutex accept_mutex_;
  std::condition_variable accept_changed_;
  std::size_t accepts_in_flight_ = 0;  // issued, and not yet finished; guarded
  bool paused_ = false;                // guarded by accept_mutex_
  bool stopping_ = false;              // guarded by accept_mutex_
  bool backoff_pending_ = false;       // guarded by accept_mutex_
  bool accept_broken_ = false;         // guarded by accept_mutex_
  std::vector<Accepted> parked_;       // accepted while paused; guarded by accept_mutex_
  std::atomic<std::uint64_t> accept_backoffs_{0};
  cs::RepeatLimiter exhausted_warnings_;

  mutable std::mutex registry_mutex_;
  std::condition_variable registry_changed_;
  // Every live connection. An entry goes when its on_connection_closed has
  // been delivered.
  std::unordered_map<Connection::Id, std::shared_ptr<ConnectionCore>> connections_;  // guarded
  std::atomic<std::size_t> active_{0};  // connections whose socket is open
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<Connection::Id> next_id_{1};

  std::atomic<std::size_t> ops_in_flight_{0};
  std::mutex ops_mutex_;
  std::condition_variable ops_drained_;
};

// The port's engine, made by the port (iocp/ or uring/) for src/server.cpp.
std::unique_ptr<EngineCore> make_engine(Server& owner);

class ConnectionCore : public Connection {
 public:
  ConnectionCore(EngineCore& engine, Id id, std::string peer);

  // An operation's result, in the platform's terms translated by the port.
  struct Outcome {
    enum class Kind {
      done,       // `bytes` moved; 0 on a receive is the client's EOF
      retry,      // try the same operation again (EINTR, EAGAIN, no provided buffer)
      cancelled,  // cancelled by this connection's own closing
      reset,      // the peer reset the connection (or took nothing of a send)
      failed,     // any other error, in `error`
    };
    Kind kind = Kind::done;
    std::size_t bytes = 0;
    std::error_code error;
  };

  // The server's calls (cpf::Connection).
  bool read() final;
  bool read(BufferPtr buffer) final;
  bool write(BufferPtr buffer) final;
  bool write(ByteView bytes) final;
  bool shutdown_send() final;
  void close() final;
  void abort() final;
  bool closing() const final;
  void set_deadline(std::optional<Clock::time_point> when) final;

  // The engine's calls: the first notification, and the timer sweep.
  void start();
  void check_timers(Clock::time_point now, std::chrono::milliseconds idle_limit);

 protected:
  // The kernel handed back the receive or the send. `buffer` holds the bytes
  // a receive got (already committed by the port), or on retry the buffer to
  // try again with (null: let the port choose one). Any I/O thread.
  void recv_finished(BufferPtr buffer, Outcome outcome);
  void send_finished(Outcome outcome);

  // The port's part, called with mutex_ held.
  virtual bool socket_open_locked() const = 0;
  // Start one receive into `buffer`; null: the port provides the memory
  // when bytes arrive (io_uring's provided buffers), or now.
  virtual void start_recv_locked(BufferPtr buffer) = 0;
  // Start one send of `length` bytes at `from`, inside `buffer`.
  virtual void start_send_locked(BufferPtr buffer, const Byte* from, std::size_t length) = 0;
  virtual void shutdown_send_locked() = 0;  // the FIN, once every write before it went
  virtual void cancel_recv_locked() = 0;    // end the receive in the kernel, not the send
  virtual void cancel_all_locked() = 0;     // end every operation in the kernel
  // Close the socket; `abortive`: with RST, discarding unsent data.
  virtual void close_socket_locked(bool abortive) = 0;
  // The port's part, called without mutex_.
  virtual bool on_io_thread() const = 0;
  virtual void run_on_io_thread(std::function<void()> task) = 0;

  EngineCore& engine_;
  mutable std::mutex mutex_;  // guards everything below, and the port's own fields

 private:
  using Recorded = RecordedEvents;

  void record_locked(Recorded& out, Event::Kind kind, BufferPtr buffer = {}, std::error_code error = {});
  void deliver(Recorded& events);
  void drain();
  void pump_reads_locked();
  void pump_writes_locked(Recorded& out);
  void abort_locked(Recorded& out);
  void fail_locked(Recorded& out, const Outcome& outcome);
  void advance_close_locked(Recorded& out);
  void begin_framework_close();
  // After close(), reads and writes are refused unless the server takes
  // over the closing (from inside on_connection_closing on).
  bool readable_locked() const {
    return !closed_ && !aborting_ && !framework_closing_ && !eof_ &&
           (!close_requested_ || taken_over_ || deciding_close_);
  }
  bool writable_locked() const {
    return !closed_ && !aborting_ && !framework_closing_ && !send_shutdown_requested_ &&
           (!close_requested_ || taken_over_ || deciding_close_);
  }

  unsigned in_flight_ = 0;  // operations in the kernel; the socket closes at zero
  // Reads issued, not yet in the kernel; null for read() without a buffer.
  // Rarely more than one: a vector (an empty std::deque would hold 512 bytes).
  std::vector<BufferPtr> read_queue_;
  bool recv_in_flight_ = false;
  OutputQueue output_;  // front is the one in the kernel, if send_in_flight_
  bool send_in_flight_ = false;
  bool eof_ = false;                      // the client's EOF was seen (reported once)
  bool close_requested_ = false;          // close() was called (closing notification recorded)
  bool deciding_close_ = false;           // on_connection_closing is running
  bool close_again_ = false;              // close() called again before the decision
  bool taken_over_ = false;               // the server took over closing
  bool framework_closing_ = false;        // graceful close under way
  bool aborting_ = false;                 // abortive close under way
  bool cancel_issued_ = false;            // cancel_all_locked() was called
  bool send_shutdown_requested_ = false;  // shutdown_send() was called
  bool closed_ = false;                   // socket closed; the closed event is recorded
  ConnectionTimers timers_;
  Sequencer<Event> sequencer_;
};

}  // namespace cpf::detail
