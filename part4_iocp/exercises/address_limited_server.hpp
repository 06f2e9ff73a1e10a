// Exercise part4-1: a limit on connections per client address.
//
// A completion-port server spends no thread on an idle client, so the
// part 2 and part 3 attack (open many connections and say nothing) no longer
// starves the others of threads, but each connection still costs a
// descriptor, buffers and a session, and one host can open thousands.
// cpf::ServerOptions::max_connections caps the total, which protects the
// server but lets one greedy host take every slot. A per-address limit
// caps each host instead, as nginx's limit_conn and many mail servers do.
//
// Edit this file and address_limited_server.cpp; check your work with
//   ./run exercise part4-1
// The check is address_limited_server_check.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "cpf/server.hpp"
#include "cs/session.hpp"
#include "cs/stats.hpp"

namespace exercises {

// completion-server's class (servers/completion_server.cpp), serving the
// shift or framed protocol, with a limit to add.
//
// The contract to implement (the starting point serves everyone):
// - At most `max_per_address` connections from one client address (the
//   host part of Connection::peer(), without the port) are served at once.
// - A connection beyond that is closed at once from
//   on_connection_established: it gets no greeting and no reply, the server
//   logs one line "refused PEER: ...", and refused() counts it.
// - When a served connection from that address closes, the address may
//   connect again. A refused connection never uses up a slot.
// - Other addresses are not affected.
// Notifications of different connections run in parallel on the I/O
// threads, so the per-address counts need a lock.
class AddressLimitedServer final : public cpf::Server {
 public:
  AddressLimitedServer(cpf::ServerOptions options, cs::Protocol protocol,
                       std::size_t max_per_address);
  ~AddressLimitedServer() override;

  // Connections refused by the limit so far. Thread-safe.
  std::uint64_t refused() const;
  // Totals of the connections served and closed. Thread-safe.
  const cs::ServerStats& stats() const { return stats_; }

 protected:
  void on_connection_established(cpf::Connection& connection) override;
  void on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override;
  void on_write_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override;
  void on_client_closed(cpf::Connection& connection) override;
  void on_connection_closed(cpf::Connection& connection) override;

 private:
  const cs::Protocol protocol_;
  const std::size_t max_per_address_;
  cs::ServerStats stats_;
  std::atomic<std::uint64_t> refused_{0};
  // EXERCISE(part4-1): the state the limit needs goes here (what guards it?).
};

}  // namespace exercises
