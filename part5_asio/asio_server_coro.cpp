// Asio coroutine server - the callback server (asio_server.cpp) again, its
// session written as C++20 coroutines (coroutine_session.hpp) that read top
// to bottom.
//
// How it works: the same io_context, thread pool, strand per session,
// registry and shutdown (server_skeleton.hpp, shared); a session is one
// coroutine on its strand (two with a timeout set: the watchdog), and the
// reply to a request is computed in the coroutine that read it, as
// asio_server.cpp computes it in the handler.
// `diff callback_session.hpp coroutine_session.hpp` shows the one session
// written both ways. Its limit: the callback server's.
//
// Run:  asio-server-coro 9090 --threads 4 --protocol framed
#include "asio_headers.hpp"
#include "coroutine_session.hpp"
#include "server_skeleton.hpp"

#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/socket.hpp"

int main(int argc, char** argv) {
  cs::CommandLine command_line("asio-server-coro",
                               "Boost.Asio coroutine server: one io_context, a pool of threads");
  command_line.add_threads_option(cs::usable_cpus());
  const cs::ServerOptions options = command_line.parse(argc, argv);
  return cs::run_guarded("asio-server-coro",
                         [&] { part5::run_server<part5::CoroutineSession>(options); });
}
