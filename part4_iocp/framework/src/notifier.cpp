// The default notification bodies of cpf::Server and their delivery: the
// platform-neutral half of the server class, shared by both backends.
#include "notifier.hpp"

#include <exception>

#include "cs/log.hpp"

namespace cpf {

void Server::on_connection_established(Connection& connection) { connection.read(); }

void Server::on_write_completed(Connection&, BufferPtr) {}

void Server::on_client_closed(Connection& connection) { connection.close(); }

void Server::on_connection_reset(Connection& connection) {
  cs::log_debug("connection ", connection.id(), " (", connection.peer(), ") reset by the client");
}

void Server::on_connection_error(Connection& connection, std::error_code error) {
  cs::log_warn("connection ", connection.id(), " (", connection.peer(), ") failed: ", error.message());
}

void Server::on_idle_timeout(Connection& connection) {
  cs::log_info("connection ", connection.id(), " (", connection.peer(), ") idle too long; closing it");
  connection.close();
}

void Server::on_deadline(Connection& connection) {
  cs::log_info("connection ", connection.id(), " (", connection.peer(), ") passed its deadline; closing it");
  connection.close();
}

bool Server::on_connection_closing(Connection&) { return false; }

void Server::on_connection_closed(Connection&) {}

void Server::on_server_stopping() {}

namespace detail {

Notifier::Then Notifier::deliver(Server& server, Connection& connection, Event& event) noexcept {
  try {
    switch (event.kind) {
      case Event::Kind::established:
        server.on_connection_established(connection);
        return Then::nothing;
      case Event::Kind::read:
        server.on_read_completed(connection, std::move(event.buffer));
        return Then::nothing;
      case Event::Kind::write:
        server.on_write_completed(connection, std::move(event.buffer));
        return Then::nothing;
      case Event::Kind::client_closed:
        server.on_client_closed(connection);
        return Then::nothing;
      case Event::Kind::reset:
        server.on_connection_reset(connection);
        return Then::abort;
      case Event::Kind::error:
        server.on_connection_error(connection, event.error);
        return Then::abort;
      case Event::Kind::idle:
        server.on_idle_timeout(connection);
        return Then::nothing;
      case Event::Kind::deadline:
        server.on_deadline(connection);
        return Then::nothing;
      case Event::Kind::closing:
        return server.on_connection_closing(connection) ? Then::take_over_closing
                                                        : Then::close_by_framework;
      case Event::Kind::closed:
        server.on_connection_closed(connection);
        return Then::nothing;
    }
  } catch (const std::exception& error) {
    cs::log_error("connection ", connection.id(), ": the server's notification threw: ", error.what(),
                  "; aborting this connection");
  } catch (...) {
    cs::log_error("connection ", connection.id(), ": the server's notification threw; aborting this connection");
  }
  return event.kind == Event::Kind::closed ? Then::nothing : Then::abort;
}

void Notifier::server_stopping(Server& server) noexcept {
  try {
    server.on_server_stopping();
  } catch (const std::exception& error) {
    cs::log_error("on_server_stopping threw: ", error.what());
  } catch (...) {
    cs::log_error("on_server_stopping threw");
  }
}

}  // namespace detail
}  // namespace cpf
