// Exercise part4-1: a limit on connections per client address; the
// contract is in address_limited_server.hpp.
//
// This starting point is completion-server's class: it serves every
// connection, however many come from one address. The places to change are
// marked EXERCISE(part4-1).
#include "address_limited_server.hpp"

#include <memory>

#include "cs/log.hpp"

namespace exercises {

namespace {

// Per connection; touched only by that connection's notifications.
struct ConnectionState {
  std::unique_ptr<cs::Session> session;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
};

}  // namespace

AddressLimitedServer::AddressLimitedServer(cpf::ServerOptions options, cs::Protocol protocol,
                                           std::size_t max_per_address)
    : cpf::Server(std::move(options)), protocol_(protocol), max_per_address_(max_per_address) {}

AddressLimitedServer::~AddressLimitedServer() { stop(); }

std::uint64_t AddressLimitedServer::refused() const { return refused_.load(); }

void AddressLimitedServer::on_connection_established(cpf::Connection& connection) {
  // EXERCISE(part4-1): count this connection against its address (the peer
  // without ":port"); over the limit, log "refused PEER: ...", count it in
  // refused_, close it, and return before the session is made. Remember in
  // the connection's state whether it took a slot.
  cs::log_info("accepted ", connection.peer());
  auto state = std::make_shared<ConnectionState>();
  state->session = cs::make_session(protocol_, cs::SessionLimits{});
  cs::Bytes greeting;
  state->session->greet(greeting);
  connection.set_context(state);
  if (!greeting.empty()) connection.write(greeting);
  connection.read();
}

void AddressLimitedServer::on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) {
  auto& state = connection.context<ConnectionState>();
  state.bytes_received += buffer->size();
  cs::Bytes replies;
  const cs::Verdict verdict = state.session->on_receive(buffer->view(), replies);
  if (!replies.empty()) connection.write(replies);
  if (verdict.close) {
    cs::log_warn("closing ", connection.peer(), ": ", verdict.reason);
    connection.close();
    return;
  }
  buffer->clear();
  connection.read(std::move(buffer));
}

void AddressLimitedServer::on_write_completed(cpf::Connection& connection, cpf::BufferPtr buffer) {
  connection.context<ConnectionState>().bytes_sent += buffer->size();
}

void AddressLimitedServer::on_client_closed(cpf::Connection& connection) {
  cs::log_info("closing ", connection.peer(), ": client closed");
  connection.close();
}

void AddressLimitedServer::on_connection_closed(cpf::Connection& connection) {
  // EXERCISE(part4-1): a connection that took a slot gives it back here.
  if (!connection.has_context()) return;
  const auto& state = connection.context<ConnectionState>();
  stats_.add_connection(state.session->requests(), state.bytes_received, state.bytes_sent);
}

}  // namespace exercises
