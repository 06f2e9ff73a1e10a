// Asio callback server - one io_context run by a pool of threads; every
// connection is a chain of completion handlers serialised by its own strand.
//
// How it works: each step of a connection starts one asynchronous operation
// and names the handler that continues; --threads threads run whichever
// handler completes next; a strand per session keeps its handlers from
// running at once. That chain is callback_session.hpp. This file adds the
// step the chain leaves open, what to do with a request once it is read: it
// computes the reply right there, in the handler, on the I/O thread. Its
// limit: the logic is spread over many small functions, and a handler that
// computes for long stalls a thread of the pool (asio_server_workers.cpp
// moves that work to a second pool; diff the two files). New since part 4:
// Asio owns the loop and the completion queue.
//
// Run:  asio-server 9090 --threads 4 --protocol framed --idle-timeout-ms 30000
#include "asio_headers.hpp"
#include "callback_session.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"

#include <utility>

#include "cs/bytes.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"

namespace {

class Session final : public part5::CallbackSession {
 public:
  using CallbackSession::CallbackSession;

 private:
  // The reply is computed in the read's own handler, on the strand; the
  // next read starts when it is queued.
  void serve_chunk(cs::ByteView chunk) override {
    cs::Bytes reply;
    const cs::Verdict verdict = answer(chunk, reply);
    deadlines_.after_receive(*protocol_);
    queue_reply(std::move(reply));
    if (verdict.close) return finish(verdict.reason);
    read_next();
  }
};

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("asio-server",
                               "Boost.Asio callback server: one io_context, a pool of threads");
  command_line.add_threads_option(cs::usable_cpus());
  const cs::ServerOptions options = command_line.parse(argc, argv);
  return cs::run_guarded("asio-server", [&] { part5::run_server<Session>(options); });
}
