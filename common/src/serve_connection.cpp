// The blocking connection loop; see serve_connection.hpp.
#include "cs/serve_connection.hpp"

#include <array>

#include "cs/log.hpp"
#include "cs/request_timer.hpp"
#include "cs/session.hpp"

namespace cs {

namespace {
// Big enough to take a typical kernel receive burst in one recv(); each
// chunk's replies then go out with one send(). 64 KiB on a thread's stack is
// fine with the default 8 MiB stacks (part 2 measures what stacks cost).
constexpr std::size_t receive_buffer_size = 64 * 1024;
}  // namespace

void serve_connection(BlockingConnection& client, const ServerOptions& options,
                      ServerStats& stats) {
  auto session = make_session(options.protocol, options.session_limits());
  Bytes replies;
  session->greet(replies);
  std::array<Byte, receive_buffer_size> buffer;
  RequestTimer request_timer(options.request_timeout);
  Verdict verdict;

  while (!verdict.close && client.send(replies)) {
    replies.clear();
    const auto received = client.receive(buffer);
    if (!received) break;
    verdict = session->on_receive(*received, replies);
    request_timer.after_receive(*session, std::chrono::steady_clock::now());
    client.set_request_deadline(request_timer.deadline());
  }
  if (verdict.close) {
    client.send(replies);  // the replies to the requests before the bad one
    log_warn("closing ", client.peer().to_string(), ": ", verdict.reason);
  } else {
    log_info("closing ", client.peer().to_string(), ": ", client.end_description());
  }
  stats.add_connection(session->requests(), client.bytes_received(), client.bytes_sent());
}

}  // namespace cs
