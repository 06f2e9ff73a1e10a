// Packet echo server - a completion-port server that echoes packets by
// sending the very buffers it received, not copies.
//
// How it works: the packet protocol (packet_session.hpp) needs no reply
// computed, only the knowledge of where packets end. Each completed read's
// buffer goes to a PacketFramer; if the buffer holds whole packets only, the
// same buffer is handed to write() as it is, and the next read gets a fresh
// one. If it ends inside a packet, Buffer::split() cuts the whole packets off
// into a buffer of their own for the write, and the next read appends to
// the remainder, so a packet never straddles two buffers. Its limit: the
// split copies the bytes it cuts off. New since completion-server: buffer
// ownership moves from the read to the write with no session in between.
// Like completion-server, it is bounded by --output-limit (the framework's
// rule) and --request-timeout-ms (a packet, once begun, must end in time).
//
// Run:  packet-echo-server 9091
//       python3 simulator check --protocol packet --address 127.0.0.1:9091
#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "cpf/server.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/stats.hpp"
#include "framework_options.hpp"
#include "packet_session.hpp"
#include "stop_request.hpp"

namespace {

// Per connection; touched only by that connection's notifications.
struct ConnectionState {
  part4::PacketFramer framer;
  // Bytes at the front of the buffer passed to the last read(buffer): the
  // start of a packet, already seen by the framer. 0 after a fresh read().
  std::size_t held = 0;
  // When the packet under way must be complete (--request-timeout-ms).
  cs::RequestTimer request_timer{std::chrono::milliseconds(0)};
  std::uint64_t packets = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
};

class PacketEchoServer final : public cpf::Server {
 public:
  PacketEchoServer(cpf::ServerOptions framework_options, std::chrono::milliseconds request_timeout)
      : cpf::Server(std::move(framework_options)), request_timeout_(request_timeout) {}
  ~PacketEchoServer() override { stop(); }

  const cs::ServerStats& stats() const { return stats_; }

 protected:
  void on_connection_established(cpf::Connection& connection) override {
    cs::log_info("accepted ", connection.peer());
    auto state = std::make_shared<ConnectionState>();
    state->request_timer = cs::RequestTimer(request_timeout_);
    connection.set_context(std::move(state));
    connection.read();  // the packet protocol has no greeting
  }

  void on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override {
    auto& state = connection.context<ConnectionState>();
    const std::size_t fresh = buffer->size() - state.held;
    state.bytes_received += fresh;
    const part4::PacketFramer::Cut cut = state.framer.advance(buffer->view().subspan(state.held));
    state.packets += cut.packets;
    update_request_deadline(connection, state);
    // Whole packets occupy the buffer's first `complete` bytes.
    const std::size_t complete = cut.complete > 0 ? state.held + cut.complete : 0;

    if (cut.error) {
      if (complete > 0) connection.write(buffer->split(complete));
      cs::log_warn("closing ", connection.peer(), ": ", *cut.error);
      connection.close();  // the echoes of the packets before the bad header go first
      return;
    }
    if (complete == buffer->size()) {
      // The common case: only whole packets. The received buffer itself is
      // the reply; the framework owns it until on_write_completed.
      state.held = 0;
      connection.write(std::move(buffer));
      connection.read();
      return;
    }
    if (complete > 0) connection.write(buffer->split(complete));
    // What is left is the start of one packet (at most largest_packet - 1
    // bytes, so a buffer of the framework's default 4 KiB always has room
    // after it): the next read appends to it.
    state.held = buffer->size();
    connection.read(std::move(buffer));
  }

  void on_write_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override {
    connection.context<ConnectionState>().bytes_sent += buffer->size();
  }

  void on_client_closed(cpf::Connection& connection) override {
    const auto& state = connection.context<ConnectionState>();
    if (state.framer.partial() > 0) {
      cs::log_debug(connection.peer(), ": dropping an incomplete packet of ",
                    state.framer.partial(), " bytes at EOF");
    }
    cs::log_info("closing ", connection.peer(), ": client closed");
    connection.close();  // after every echo already queued
  }

  void on_idle_timeout(cpf::Connection& connection) override {
    part4::close_idle(connection, options().idle_timeout);
  }

  void on_deadline(cpf::Connection& connection) override {
    // The echoes of the packets before it go first.
    part4::close_request_timed_out(connection, request_timeout_);
  }

  void on_connection_closed(cpf::Connection& connection) override {
    if (!connection.has_context()) return;
    const auto& state = connection.context<ConnectionState>();
    stats_.add_connection(state.packets, state.bytes_received, state.bytes_sent);
  }

 private:
  // This server has a PacketFramer, not a cs::Session (it copies nothing),
  // so the request timer reads the framer: a packet begun (partial() > 0)
  // must be complete within the limit.
  static void update_request_deadline(cpf::Connection& connection, ConnectionState& state) {
    state.request_timer.after_receive(state.framer.partial() > 0, state.packets,
                                      std::chrono::steady_clock::now());
    connection.set_deadline(state.request_timer.deadline());
  }

  const std::chrono::milliseconds request_timeout_;  // --request-timeout-ms; 0 = none
  cs::ServerStats stats_;
};

void run_server(const cs::ServerOptions& options, const part4::FrameworkExtras& extras) {
  PacketEchoServer server(part4::framework_options(options, extras), options.request_timeout);
  server.start();
  cs::log_info("serving packet echo on ", options.threads, " I/O threads");
  part4::serve_until_stop_signal(server, options);
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("packet-echo-server",
                               "Packet echo server on the cpf framework (zero-copy echo)");
  command_line.speak_only("packet");
  part4::FrameworkExtras extras;
  part4::add_framework_options(command_line, extras, cs::usable_cpus());
  CLI::App& app = command_line.app();
  app.remove_option(app.get_option("--max-frame"));  // a packet's size is its own header's
  const cs::ServerOptions options = command_line.parse(argc, argv);
  part4::install_stop_handlers();
  return cs::run_guarded("packet-echo-server", [&] { run_server(options, extras); });
}
