// Completion-port socket server - the framework's I/O threads complete reads
// and writes for every client; the server only reacts to finished operations.
//
// How it works: cpf::Server (framework/) accepts, reads and writes through
// io_uring on Linux or an I/O completion port on Windows, on --threads I/O
// threads. This file is a class of notifications: a read completed -> feed
// the bytes to the connection's cs::Session and queue its replies as one
// write; the client half-closed -> close once the replies are sent. No
// thread ever waits for a client, so idle clients cost a little memory, not
// a thread. Its limit: a notification holds an I/O thread, so slow work in
// one stalls the others. New since part 3: the clients no longer decide how
// many threads run; the design is inverted (a proactor).
//
// Memory and time per client are bounded by the framework's rules: past
// --output-limit unsent reply bytes it stops reading that client until the
// client reads (cpf/server.hpp), and once a request has begun it must be
// complete within --request-timeout-ms (a deadline per connection, checked
// by the framework's sweep).
//
// Run:  completion-server 9090 --threads 2
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "cpf/server.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/session.hpp"
#include "cs/stats.hpp"
#include "framework_options.hpp"
#include "stop_request.hpp"

namespace {

// What the server keeps per connection: created in
// on_connection_established, read and written only in that connection's
// notifications (which never overlap), released with the connection.
struct ConnectionState {
  explicit ConnectionState(std::chrono::milliseconds request_timeout) : request_timer(request_timeout) {}
  std::unique_ptr<cs::Session> session;
  cs::RequestTimer request_timer;  // --request-timeout-ms
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
};

class CompletionServer final : public cpf::Server {
 public:
  CompletionServer(const cs::ServerOptions& options, cpf::ServerOptions framework_options)
      : cpf::Server(std::move(framework_options)), options_(options) {}
  ~CompletionServer() override { stop(); }  // before the notifications' class is gone

  const cs::ServerStats& stats() const { return stats_; }

 protected:
  void on_connection_established(cpf::Connection& connection) override {
    cs::log_info("accepted ", connection.peer());
    auto state = std::make_shared<ConnectionState>(options_.request_timeout);
    state->session = cs::make_session(options_.protocol, options_.session_limits());
    cs::Bytes greeting;
    state->session->greet(greeting);
    connection.set_context(state);
    if (!greeting.empty()) connection.write(greeting);
    connection.read();
  }

  void on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override {
    auto& state = connection.context<ConnectionState>();
    state.bytes_received += buffer->size();
    cs::Bytes replies;
    const cs::Verdict verdict = state.session->on_receive(buffer->view(), replies);
    state.request_timer.after_receive(*state.session, std::chrono::steady_clock::now());
    connection.set_deadline(state.request_timer.deadline());
    // All the replies to one read go out as one write, however many
    // requests it held.
    if (!replies.empty()) connection.write(replies);
    if (verdict.close) {
      cs::log_warn("closing ", connection.peer(), ": ", verdict.reason);
      connection.close();  // after the replies to the requests before the bad one
      return;
    }
    // The bytes are consumed: the buffer goes back to the pool when this
    // returns, and the next read holds none while the client is silent
    // (on Linux the kernel picks a buffer when bytes come).
    connection.read();
  }

  void on_write_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override {
    connection.context<ConnectionState>().bytes_sent += buffer->size();
  }

  void on_client_closed(cpf::Connection& connection) override {
    cs::log_info("closing ", connection.peer(), ": client closed");
    connection.close();  // graceful: the replies already queued go first
  }

  void on_idle_timeout(cpf::Connection& connection) override {
    part4::close_idle(connection, options_.idle_timeout);
  }

  void on_deadline(cpf::Connection& connection) override {
    // The replies to the bytes of it already received go first.
    part4::close_request_timed_out(connection, options_.request_timeout);
  }

  void on_connection_closed(cpf::Connection& connection) override {
    if (!connection.has_context()) return;
    const auto& state = connection.context<ConnectionState>();
    stats_.add_connection(state.session->requests(), state.bytes_received, state.bytes_sent);
  }

 private:
  const cs::ServerOptions& options_;
  cs::ServerStats stats_;  // atomics: notifications of different connections run in parallel
};

void run_server(const cs::ServerOptions& options, const part4::FrameworkExtras& extras) {
  CompletionServer server(options, part4::framework_options(options, extras));
  server.start();
  cs::log_info("serving ", cs::to_string(options.protocol), " on ", options.threads,
               " I/O threads");
  part4::serve_until_stop_signal(server, options);
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("completion-server",
                               "Completion-port TCP server on the cpf framework");
  part4::FrameworkExtras extras;
  part4::add_framework_options(command_line, extras, cs::usable_cpus());
  const cs::ServerOptions options = command_line.parse(argc, argv);
  part4::install_stop_handlers();
  return cs::run_guarded("completion-server", [&] { run_server(options, extras); });
}
