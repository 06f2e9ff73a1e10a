// Line server - a completion-port server for a CRLF command protocol
// (ECHO, NOOP, QUIT), closing each connection with a lingering close.
//
// How it works: completion-server's notifications, driving a LineSession
// (line_session.hpp). What is new is the end of a conversation. When the
// session says close (after QUIT or a line too long), the server does not
// just close the socket: closing with unread client bytes makes the kernel
// send a reset, which can destroy the "+OK bye" the client has not read
// yet. So on_connection_closing takes the close over: shutdown_send() (a
// FIN after the last queued reply), then read and discard until the
// client's EOF, then close. Its limit: a client that never closes its side
// lingers until --idle-timeout-ms or the shutdown grace ends it.
// Like completion-server, it is bounded by --output-limit (the framework's
// rule) and --request-timeout-ms (a line, once begun, must end in time).
//
// Run:  line-server 9092 --max-line 512
//       printf 'ECHO hi\r\nQUIT\r\n' | nc 127.0.0.1 9092
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
#include "line_session.hpp"
#include "stop_request.hpp"

namespace {

// While lingering, at most this many client bytes are read and dropped
// before the server closes anyway: the client has been told goodbye, and a
// peer that keeps sending must not keep the connection forever.
constexpr std::uint64_t linger_discard_limit = 256 * 1024;

// Per connection; touched only by that connection's notifications.
struct ConnectionState {
  ConnectionState(std::size_t max_line, std::chrono::milliseconds request_timeout)
      : session(max_line), request_timer(request_timeout) {}
  part4::LineSession session;
  cs::RequestTimer request_timer;  // --request-timeout-ms
  bool client_closed = false;  // EOF seen: nothing left to drain
  bool lingering = false;      // after shutdown_send(): reading only to drain
  std::uint64_t discarded = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
};

class LineServer final : public cpf::Server {
 public:
  LineServer(cpf::ServerOptions framework_options, std::size_t max_line,
             std::chrono::milliseconds request_timeout)
      : cpf::Server(std::move(framework_options)),
        max_line_(max_line),
        request_timeout_(request_timeout) {}
  ~LineServer() override { stop(); }

  const cs::ServerStats& stats() const { return stats_; }

 protected:
  void on_connection_established(cpf::Connection& connection) override {
    cs::log_info("accepted ", connection.peer());
    auto state = std::make_shared<ConnectionState>(max_line_, request_timeout_);
    cs::Bytes greeting;
    state->session.greet(greeting);
    connection.set_context(state);
    connection.write(greeting);
    connection.read();
  }

  void on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override {
    auto& state = connection.context<ConnectionState>();
    state.bytes_received += buffer->size();
    if (state.lingering) {
      drain(connection, state, std::move(buffer));
      return;
    }
    cs::Bytes replies;
    const cs::Verdict verdict = state.session.on_receive(buffer->view(), replies);
    state.request_timer.after_receive(state.session, std::chrono::steady_clock::now());
    connection.set_deadline(state.request_timer.deadline());
    if (!replies.empty()) connection.write(replies);  // every reply of the chunk, one write
    if (verdict.close) {
      if (state.session.quit_received()) {
        cs::log_info("closing ", connection.peer(), ": ", verdict.reason);
      } else {
        cs::log_warn("closing ", connection.peer(), ": ", verdict.reason);
      }
      connection.close();  // on_connection_closing below decides how
      return;
    }
    connection.read();  // a fresh read: this buffer goes back to the pool
  }

  void on_write_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override {
    connection.context<ConnectionState>().bytes_sent += buffer->size();
  }

  void on_client_closed(cpf::Connection& connection) override {
    auto& state = connection.context<ConnectionState>();
    state.client_closed = true;
    if (state.lingering) {
      connection.close();  // the drain is over: the second close() really closes
      return;
    }
    if (state.session.partial() > 0) {
      cs::log_debug(connection.peer(), ": dropping an unfinished line of ",
                    state.session.partial(), " bytes at EOF");
    }
    cs::log_info("closing ", connection.peer(), ": client closed");
    connection.close();  // every complete line is answered; its replies go first
  }

  // The lingering close. Called once, on the first close(), from whatever
  // asked for it (QUIT, a line too long, the idle timeout).
  bool on_connection_closing(cpf::Connection& connection) override {
    auto& state = connection.context<ConnectionState>();
    if (state.client_closed) return false;  // nothing to drain: close after the writes
    state.lingering = true;
    connection.shutdown_send();  // FIN once the replies already queued are sent
    connection.read();           // and keep reading, to drain what the client still sends
    return true;
  }

  void on_idle_timeout(cpf::Connection& connection) override {
    if (connection.context<ConnectionState>().lingering) {
      cs::log_info("closing ", connection.peer(), ": no EOF after goodbye for ",
                   options().idle_timeout.count(), " ms");
      connection.close();
    } else {
      part4::close_idle(connection, options().idle_timeout);
    }
  }

  // A line begun and not ended within --request-timeout-ms. The close goes
  // through on_connection_closing like any other: a lingering close.
  void on_deadline(cpf::Connection& connection) override {
    part4::close_request_timed_out(connection, request_timeout_);
  }

  void on_connection_closed(cpf::Connection& connection) override {
    if (!connection.has_context()) return;
    const auto& state = connection.context<ConnectionState>();
    stats_.add_connection(state.session.requests(), state.bytes_received, state.bytes_sent);
  }

 private:
  // Reads and drops what a client sends after its goodbye, up to
  // linger_discard_limit bytes.
  void drain(cpf::Connection& connection, ConnectionState& state, cpf::BufferPtr buffer) {
    state.discarded += buffer->size();
    if (state.discarded > linger_discard_limit) {
      cs::log_warn("closing ", connection.peer(), ": still sending ", state.discarded,
                   " bytes after goodbye");
      connection.close();
      return;
    }
    connection.read();
  }

  const std::size_t max_line_;
  const std::chrono::milliseconds request_timeout_;  // --request-timeout-ms; 0 = none
  cs::ServerStats stats_;
};

void run_server(const cs::ServerOptions& options, const part4::FrameworkExtras& extras,
                std::size_t max_line) {
  LineServer server(part4::framework_options(options, extras), max_line, options.request_timeout);
  server.start();
  cs::log_info("serving the line protocol (--max-line ", max_line, ") on ", options.threads,
               " I/O threads");
  part4::serve_until_stop_signal(server, options);
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("line-server", "Line protocol server on the cpf framework");
  command_line.speak_only("line");
  part4::FrameworkExtras extras;
  part4::add_framework_options(command_line, extras, cs::usable_cpus());
  CLI::App& app = command_line.app();
  app.remove_option(app.get_option("--max-frame"));  // no frames in this protocol
  std::size_t max_line = part4::default_max_line;
  app.add_option("--max-line", max_line, "Longest line in bytes, CR/LF not counted")
      ->check(CLI::Range(part4::smallest_max_line, part4::largest_max_line))
      ->capture_default_str();
  const cs::ServerOptions options = command_line.parse(argc, argv);
  part4::install_stop_handlers();
  return cs::run_guarded("line-server", [&] { run_server(options, extras, max_line); });
}
