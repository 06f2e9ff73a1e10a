// Exercise part4-1, reference solution: a limit on connections per client
// address; the contract is in address_limited_server.hpp.
#include "address_limited_server.hpp"

#include <memory>

#include "cs/log.hpp"

namespace exercises {

namespace {

// Per connection; touched only by that connection's notifications.
struct ConnectionState {
  std::string address;  // the peer without its port: the key of its slot
  std::unique_ptr<cs::Session> session;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
};

// "127.0.0.1:51234" -> "127.0.0.1", "[::1]:51234" -> "[::1]".
std::string address_of(const std::string& peer) { return peer.substr(0, peer.rfind(':')); }

}  // namespace

AddressLimitedServer::AddressLimitedServer(cpf::ServerOptions options, cs::Protocol protocol,
                                           std::size_t max_per_address)
    : cpf::Server(std::move(options)), protocol_(protocol), max_per_address_(max_per_address) {}

AddressLimitedServer::~AddressLimitedServer() { stop(); }

std::uint64_t AddressLimitedServer::refused() const { return refused_.load(); }

void AddressLimitedServer::on_connection_established(cpf::Connection& connection) {
  std::string address = address_of(connection.peer());
  {
    const std::lock_guard lock(mutex_);
    std::size_t& count = per_address_[address];
    if (count >= max_per_address_) {
      const std::size_t open = count;
      if (open == 0) per_address_.erase(address);  // a limit of 0 refuses everyone
      refused_.fetch_add(1);
      cs::log_info("refused ", connection.peer(), ": ", address, " already has ", open,
                   " connections (the limit)");
      connection.close();  // no context: nothing to give back when it closes
      return;
    }
    ++count;
  }
  cs::log_info("accepted ", connection.peer());
  auto state = std::make_shared<ConnectionState>();
  state->address = std::move(address);
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
  if (!connection.has_context()) return;  // refused: it never took a slot
  const auto& state = connection.context<ConnectionState>();
  {
    const std::lock_guard lock(mutex_);
    const auto slot = per_address_.find(state.address);
    if (slot != per_address_.end() && --slot->second == 0) per_address_.erase(slot);
  }
  stats_.add_connection(state.session->requests(), state.bytes_received, state.bytes_sent);
}

}  // namespace exercises
