// Chat server - a thread per client, all in one room: every message a client
// sends is delivered, unchanged, to every other client.
//
// How it works: each client's thread reads its frames and hands each one to
// the room (chat_room.hpp), which writes it to the other members by the
// strategy --broadcast picks: global-lock, snapshot, or queue (the default).
// Its limit: client threads now write to each other's sockets; the two
// published strategies stall the room behind a client that stops reading or
// tear frames, and queue gets it right for a second thread per client.
// New since the threaded server: clients talk to each other, not to the server.
//
// Run:  chat-server 9090     then, in two terminals:  chat-client 9090 --name ann
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "chat_room.hpp"
#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/frame_codec.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/stop.hpp"

namespace {

// Big enough to take a typical kernel receive burst in one recv().
constexpr std::size_t receive_buffer_size = 64 * 1024;

struct ChatOptions {
  cs::ServerOptions server;
  chat::RoomOptions room;
  int sndbuf = 0;  // SO_SNDBUF of client sockets; 0 = the kernel's (autotuned)
};

// The connection threads the accept loop started, kept so that every one is
// joined: finished ones whenever a new client arrives (so their stacks do
// not pile up), the rest at shutdown. Accept thread only.
class ConnectionThreads {
 public:
  ConnectionThreads() = default;
  ConnectionThreads(const ConnectionThreads&) = delete;
  ConnectionThreads& operator=(const ConnectionThreads&) = delete;
  ~ConnectionThreads() { join_all(); }

  // Runs body() on a new thread. Throws std::system_error if the thread
  // cannot be created (body, and the socket it owns, are then destroyed).
  template <typename Body>
  void start(Body body) {
    join_finished();
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([body = std::move(body), done]() mutable {
      body();
      done->store(true);
    });
    running_.push_back({std::move(thread), std::move(done)});
  }

  // Waits for every thread; they end by the shutdown deadline because each
  // one's waits watch the stop signal.
  void join_all() {
    for (Running& running : running_) running.thread.join();
    running_.clear();
  }

 private:
  struct Running {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;  // set as the thread's last act
  };

  void join_finished() {
    std::erase_if(running_, [](Running& running) {
      if (!running.done->load()) return false;
      running.thread.join();  // returns at once: the body is over
      return true;
    });
  }

  std::vector<Running> running_;
};

// Serves one member: joins the room, reads frames and broadcasts each one
// until the client leaves, breaks the protocol, idles out, is dropped, or the
// server stops; then leaves. Every outcome closes this connection only.
void serve_connection(cs::BlockingConnection& client, const chat::Member& me, chat::ChatRoom& room,
                      const ChatOptions& options, const cs::StopSignal& stop,
                      chat::ChatStats& stats) {
  const std::size_t members = room.join(me);
  cs::log_info("joined: ", me.peer.to_string(), " (", members, " in the room)");
  cs::FrameDecoder decoder(options.server.max_frame);
  cs::RequestTimer request_timer(options.server.request_timeout);
  std::uint64_t frames = 0;
  std::array<cs::Byte, receive_buffer_size> buffer;
  std::string protocol_error;

  // After a stop nothing new is read: the room is closing, and what is
  // already queued for delivery is flushed by leave() within the grace period.
  try {
    while (!stop.stop_requested()) {
      const auto received = client.receive(buffer);
      if (!received) break;
      decoder.feed(*received);
      while (const auto payload = decoder.next()) {
        stats.messages_in.fetch_add(1, std::memory_order_relaxed);
        room.broadcast(me, chat::make_frame(*payload));
        ++frames;
      }
      // A frame trickled in byte by byte must still arrive in time
      // (--request-timeout-ms; the idle timeout cannot see a trickle).
      request_timer.after_receive(decoder.buffered() > 0, frames, std::chrono::steady_clock::now());
      client.set_request_deadline(request_timer.deadline());
      if (decoder.error()) {
        protocol_error = *decoder.error();
        break;
      }
    }
  } catch (...) {
    room.leave(me);  // the room must not keep a member whose thread is gone
    throw;
  }

  const bool dropped = room.leave(me);
  if (!protocol_error.empty()) {
    cs::log_warn("closing ", me.peer.to_string(), ": ", protocol_error);
  } else if (dropped) {
    cs::log_info("closing ", me.peer.to_string(), ": dropped (its outbound queue overflowed)");
  } else if (stop.stop_requested()) {
    cs::log_info("closing ", me.peer.to_string(), ": server shutting down");
  } else {
    cs::log_info("closing ", me.peer.to_string(), ": ", client.end_description());
  }
}

// cs::accept_next, except that a broken listener first requests the stop.
std::optional<cs::Client> accept_or_stop(int listen_fd, cs::StopSignal& stop) {
  try {
    return cs::accept_next(listen_fd, stop);
  } catch (...) {
    stop.request_stop();  // every connection thread watches it
    throw;                // ~ConnectionThreads joins them; run_guarded reports it
  }
}

// Accepts clients, one thread each, until a stop is requested; then joins
// every thread and prints the summary. If the listening socket breaks, it
// requests the stop itself, so the connection threads end and can be joined
// before the error is reported.
void run_server(const ChatOptions& options, cs::StopSignal& stop) {
  cs::FileDescriptor listener =
      cs::listen_tcp(options.server.host, options.server.port, options.server.backlog);
  cs::announce_listening(cs::local_endpoint(listener.get()));
  cs::log_info("broadcast strategy: ", chat::to_string(options.room.strategy));
  chat::ChatStats stats;
  const std::unique_ptr<chat::ChatRoom> room = chat::make_room(options.room, stop, stats);
  // Readers stop at the stop request (no grace for reading): the grace
  // period is spent delivering what was already received.
  const cs::ConnectionPolicy reader_policy{options.server.idle_timeout,
                                           std::chrono::milliseconds(0),
                                           options.server.request_timeout};
  std::uint64_t next_id = 1;

  {
    ConnectionThreads threads;  // declared after the room: joined before it is destroyed
    std::optional<cs::Client> accepted;
    while ((accepted = accept_or_stop(listener.get(), stop))) {
      if (options.sndbuf > 0) {
        ::setsockopt(accepted->fd.get(), SOL_SOCKET, SO_SNDBUF, &options.sndbuf,
                     sizeof options.sndbuf);
      }
      stats.connections.fetch_add(1, std::memory_order_relaxed);
      const cs::Endpoint peer = accepted->peer;
      try {
        threads.start([&, client = std::move(*accepted), id = next_id++]() mutable {
          cs::BlockingConnection connection(std::move(client.fd), client.peer, stop,
                                            reader_policy);
          const chat::Member me{id, connection.fd(), client.peer};
          try {
            serve_connection(connection, me, *room, options, stop, stats);
          } catch (const std::exception& error) {
            // Only resource exhaustion gets here (a writer thread that cannot
            // start, memory): this client is closed, the others go on.
            cs::log_error("closing ", client.peer.to_string(), ": ", error.what());
          }
        });
      } catch (const std::system_error& error) {
        cs::log_error("cannot start a thread for ", peer.to_string(), " (", error.what(),
                      "); closing it");
      }
    }
    // Clients still in the backlog were never accepted: closing the listener
    // resets them, so they fail at once instead of hanging.
    listener.reset();
    threads.join_all();
  }
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

ChatOptions parse_options(int argc, char** argv) {
  cs::CommandLine command_line(
      "chat-server", "Chat room: a thread per client; every message goes to every other client");
  CLI::App& app = command_line.app();
  ChatOptions options;

  // The chat protocol is the only one this server speaks. The shared command
  // line offers --protocol shift|framed to every server, so replace it with
  // one that refuses any value with a reason, rather than ignoring it.
  app.remove_option(app.get_option("--protocol"));
  std::string unused_protocol;
  app.add_option("--protocol", unused_protocol,
                 "Not offered: chat-server speaks only the chat protocol")
      ->check(CLI::Validator(
          [](std::string&) -> std::string {
            return "not offered: chat-server speaks only the chat protocol (length-prefixed "
                   "frames broadcast to the room); shift and framed are the echo servers'";
          },
          "", "chat only"));
  // --work-us is honoured by the shift and framed sessions, which this server
  // does not use; not offering it keeps it from being silently ignored.
  app.remove_option(app.get_option("--work-us"));

  std::string broadcast{chat::to_string(options.room.strategy)};
  app.add_option("--broadcast", broadcast,
                 "How a message reaches the other clients: the registry lock held across "
                 "every send, sends from a copy of the descriptor list, or a bounded queue and "
                 "writer thread per client")
      ->check(CLI::IsMember({"global-lock", "snapshot", "queue"}))
      ->capture_default_str();
  app.add_option("--queue-frames", options.room.queue_frames,
                 "queue: frames waiting for one client before it is dropped")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--queue-bytes", options.room.queue_bytes,
                 "queue: bytes waiting for one client before it is dropped (at least one "
                 "--max-frame frame plus its 4-byte header)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34))
      ->capture_default_str();
  app.add_option("--sndbuf", options.sndbuf,
                 "SO_SNDBUF of client sockets in bytes; 0 = the kernel's default (autotuned)")
      ->check(CLI::Range(0, 64 << 20))
      ->capture_default_str();

  options.server = command_line.parse(argc, argv);
  options.room.strategy = *chat::parse_broadcast(broadcast);  // IsMember checked it
  options.room.shutdown_grace = options.server.shutdown_grace;
  const std::size_t largest_frame = std::size_t{options.server.max_frame} + cs::frame_header_length;
  if (options.room.queue_bytes < largest_frame) {
    std::cerr << "chat-server: --queue-bytes " << options.room.queue_bytes
              << " cannot hold one frame of --max-frame " << options.server.max_frame
              << " (plus its 4-byte header): raise --queue-bytes to at least " << largest_frame
              << " or lower --max-frame\n";
    std::exit(2);
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const ChatOptions options = parse_options(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("chat-server", [&] { run_server(options, stop); });
}
