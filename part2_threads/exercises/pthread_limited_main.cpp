// Exercise part2-1 as a server you can run: pthread-server's command line
// plus --max-clients, serving with run_pthread_server() from
// pthread_limited_server.cpp (your version).
//
// Run:  exercise-part2-1-server 9090 --max-clients 2
#include "cs/options.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"
#include "pthread_limited_server.hpp"

int main(int argc, char** argv) {
  cs::CommandLine command_line("exercise-part2-1-server",
                               "Exercise part2-1: the pthread server with --max-clients");
  command_line.add_max_clients_option();
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("exercise-part2-1-server", [&] {
    cs::FileDescriptor listener = cs::listen_tcp(options.host, options.port, options.backlog);
    cs::announce_listening(cs::local_endpoint(listener.get()));
    exercises::run_pthread_server(std::move(listener), options, stop);
  });
}
