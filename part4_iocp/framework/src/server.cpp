// cpf::Server's public calls, written once: each goes to the engine the
// port makes (detail::make_engine, in iocp/ or uring/).
#include "cpf/server.hpp"

#include <utility>

#include "connection_core.hpp"

namespace cpf {

class Server::Impl {
 public:
  explicit Impl(Server& owner) : engine(detail::make_engine(owner)) {}
  std::unique_ptr<detail::EngineCore> engine;
};

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      allocator_(options_.buffer_size, options_.max_pooled_buffers),
      impl_(std::make_unique<Impl>(*this)) {}

Server::~Server() { impl_->engine->stop(std::chrono::milliseconds{0}); }

void Server::start() { impl_->engine->start(); }
std::uint16_t Server::local_port() const { return impl_->engine->port(); }
std::string Server::local_address() const { return impl_->engine->address(); }
void Server::pause_accepting() { impl_->engine->pause_accepting(); }
void Server::resume_accepting() { impl_->engine->resume_accepting(); }
void Server::stop(std::chrono::milliseconds grace) { impl_->engine->stop(grace); }
void Server::post(std::function<void()> task) { impl_->engine->post(std::move(task)); }
Counters Server::counters() const { return impl_->engine->counters(); }

}  // namespace cpf
