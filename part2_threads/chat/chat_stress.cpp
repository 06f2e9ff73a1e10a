// chat-stress - the chat room's load generator and verifier. N clients join
// a chat server; the first M of them send K frames each as fast as a window
// allows; every client checks each frame it receives: whole and unsplit
// (right length, right pattern, a header where a header must be), from
// someone else, and in its sender's order. An optional slow client joins
// and never reads. A JSON summary goes to stdout, a short one to stderr.
//
// Frames: a data frame's payload is --size bytes: "CHAT", the sender id, the
// sequence number and a check word (4 bytes each, big-endian), then a
// pattern that depends on the sender and the offset, so a piece of another
// frame anywhere inside it shows. A join frame ("HELO" + id, 8 bytes) is how
// the clients learn that the server has registered all of them: the chat
// protocol has no acknowledgement, but a client whose hello reached someone
// has a running connection thread, which joined the room before reading.
// Hellos are re-sent every 50 ms until someone has seen them.
//
// The window: a sender may be at most --window frames ahead of the slowest
// live receiver. Without it the senders outrun the receivers (each frame is
// read N-1 times) and a queue server would rightly drop the receivers.
//
// Single-threaded: one poll() loop over every socket, so the tool has no
// locks of its own to get wrong (and it uses one core, which on a small
// machine caps the rate it can measure).
//
// The JSON: "complete" once every live receiver has every sender's last
// frame (or false when --duration ran out); frames_expected counts what the
// senders sent whole, frames_received the intact frames, frames_missing the
// difference (gaps in a sender's sequence, or frames in flight when the run
// stopped), frames_corrupt the frames that failed a check (a resynchronised
// stream counts once per bad frame), rate_per_interval the intact frames
// received in each --interval; dropped lists the normal clients the server
// closed, slow the client that never reads. Exit status: 0 when every frame
// arrived intact and nobody was dropped but the slow client, 3 otherwise,
// 1 when the clients could not connect or join, 2 for bad arguments.
//
// Run:  chat-stress --port 9090 --clients 8 --senders 6 --frames 50 --size 262144
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cs/bytes.hpp"
#include "cs/frame_codec.hpp"
#include "cs/options.hpp"
#include "cs/socket.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t data_header = 16;  // "CHAT", sender, seq, check word
constexpr std::size_t hello_length = 8;  // "HELO", id
constexpr std::array<cs::Byte, 4> data_magic = {'C', 'H', 'A', 'T'};
constexpr std::array<cs::Byte, 4> hello_magic = {'H', 'E', 'L', 'O'};
constexpr auto hello_resend = std::chrono::milliseconds(50);
constexpr auto join_timeout = std::chrono::seconds(10);
constexpr std::size_t receive_chunk = 256 * 1024;
constexpr int exit_setup_error = 1;
constexpr int exit_verification_failed = 3;

struct StressOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  unsigned clients = 8;
  unsigned senders = 0;  // 0: every client sends
  std::uint64_t frames = 50;  // per sender; 0 = until --duration
  std::uint32_t size = 1024;
  unsigned window = 4;
  bool slow = false;
  double duration = 20.0;
  double interval = 0.25;
};

std::uint32_t read_be32(const cs::Byte* p) {
  std::uint32_t value;
  std::memcpy(&value, p, 4);
  return ntohl(value);
}

void write_be32(std::uint32_t value, cs::Byte* p) {
  const std::uint32_t network = htonl(value);
  std::memcpy(p, &network, 4);
}

std::uint32_t check_word(std::uint32_t sender, std::uint32_t seq) {
  return ~(sender * 0x9E3779B1u ^ seq);
}

// The body of every frame of `sender`: byte i depends on the sender and on
// i, so bytes of another sender's frame, or of the same frame shifted,
// differ almost everywhere.
cs::Bytes pattern_for(std::uint32_t sender, std::size_t size) {
  cs::Bytes body(size);
  for (std::size_t i = data_header; i < size; ++i) {
    body[i] = static_cast<cs::Byte>((i + 1) * (2 * sender + 3) + (i >> 8) + sender);
  }
  return body;
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

struct Client {
  std::uint32_t id = 0;
  cs::FileDescriptor fd;
  std::string address;  // our local address, as the server's log names us
  bool slow = false;
  bool sender = false;

  // Receiving: in[in_pos..] is not parsed yet.
  cs::Bytes in;
  std::size_t in_pos = 0;
  bool resyncing = false;  // after a corrupt frame: looking for the next header
  std::vector<std::uint32_t> next_seq;  // per sender: the sequence number due next
  std::vector<std::uint64_t> received;  // per sender: intact frames
  std::uint64_t corrupt = 0;
  std::uint64_t own = 0;  // our own frames sent back to us

  // Sending: out[out_pos..] is not sent yet.
  cs::Bytes out;
  std::size_t out_pos = 0;
  std::uint64_t queued = 0;         // data frames appended to out
  std::uint64_t data_bytes_sent = 0;

  bool closed = false;
  std::string close_reason;
  double closed_after = 0;  // seconds into the data phase (negative: before it)
  Clock::time_point last_hello{};
};

class Stress {
 public:
  explicit Stress(const StressOptions& options) : o_(options) {
    for (std::uint32_t s = 0; s < o_.senders; ++s) patterns_.push_back(pattern_for(s, o_.size));
    data_marker_.resize(8);
    write_be32(o_.size, data_marker_.data());
    std::copy(data_magic.begin(), data_magic.end(), data_marker_.begin() + 4);
  }

  // Returns the exit status.
  int run() {
    if (!connect_all()) return exit_setup_error;
    if (!wait_until_everyone_joined()) return exit_setup_error;
    run_data_phase();
    return report();
  }

 private:
  std::size_t total() const { return clients_.size(); }

  bool connect_all() {
    const unsigned count = o_.clients + (o_.slow ? 1 : 0);
    for (std::uint32_t id = 0; id < count; ++id) {
      Client client;
      client.id = id;
      client.slow = id == o_.clients;
      client.sender = id < o_.senders;
      client.fd = cs::FileDescriptor(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(o_.port);
      if (::inet_pton(AF_INET, o_.host.c_str(), &address.sin_addr) != 1) {
        std::cerr << "chat-stress: --host must be an IPv4 address, not " << o_.host << "\n";
        return false;
      }
      if (!client.fd ||
          ::connect(client.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::cerr << "chat-stress: cannot connect client " << id << " to " << o_.host << ":"
                  << o_.port << ": " << std::strerror(errno) << "\n";
        return false;
      }
      cs::set_nodelay(client.fd.get());
      client.address = cs::local_endpoint(client.fd.get()).to_string();
      client.next_seq.assign(o_.senders, 0);
      client.received.assign(o_.senders, 0);
      clients_.push_back(std::move(client));
    }
    seen_hello_.assign(total(), false);
    return true;
  }

  void queue_hello(Client& client) {
    const std::size_t at = client.out.size();
    client.out.resize(at + cs::frame_header_length + hello_length);
    write_be32(hello_length, &client.out[at]);
    std::copy(hello_magic.begin(), hello_magic.end(), client.out.begin() + at + 4);
    write_be32(client.id, &client.out[at + 8]);
    client.last_hello = Clock::now();
  }

  bool wait_until_everyone_joined() {
    const auto deadline = Clock::now() + join_timeout;
    for (Client& client : clients_) queue_hello(client);
    for (;;) {
      if (std::all_of(seen_hello_.begin(), seen_hello_.end(), [](bool seen) { return seen; })) {
        return true;
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        std::cerr << "chat-stress: not every client joined within "
                  << join_timeout.count() << " s (is it a chat server?)\n";
        return false;
      }
      for (Client& client : clients_) {
        if (!seen_hello_[client.id] && client.out_pos == client.out.size() &&
            now - client.last_hello >= hello_resend) {
          queue_hello(client);
        }
      }
      poll_once(now + hello_resend);
      for (const Client& client : clients_) {
        if (client.closed) {
          std::cerr << "chat-stress: client " << client.id << " was closed while joining: "
                    << client.close_reason << "\n";
          return false;
        }
      }
    }
  }

  // Frames of `sender` that every live receiver has.
  std::uint64_t delivered_to_all(const Client& sender) const {
    std::uint64_t least = UINT64_MAX;
    for (const Client& receiver : clients_) {
      if (receiver.slow || receiver.closed || receiver.id == sender.id) continue;
      least = std::min<std::uint64_t>(least, receiver.next_seq[sender.id]);
    }
    return least == UINT64_MAX ? sender.queued : least;
  }

  void top_up(Client& sender) {
    if (sender.closed || !sending_) return;
    if (sender.out_pos == sender.out.size()) {
      sender.out.clear();
      sender.out_pos = 0;
    }
    const std::uint64_t allowed = delivered_to_all(sender) + o_.window;
    const std::size_t frame_bytes = cs::frame_header_length + o_.size;
    while ((o_.frames == 0 || sender.queued < o_.frames) && sender.queued < allowed &&
           (sender.out.size() - sender.out_pos < 64 * 1024 || sender.out_pos == sender.out.size())) {
      const std::size_t at = sender.out.size();
      sender.out.resize(at + frame_bytes);
      cs::Byte* frame = &sender.out[at];
      write_be32(o_.size, frame);
      cs::Byte* payload = frame + cs::frame_header_length;
      std::copy(patterns_[sender.id].begin() + data_header, patterns_[sender.id].end(),
                payload + data_header);
      std::copy(data_magic.begin(), data_magic.end(), payload);
      const auto seq = static_cast<std::uint32_t>(sender.queued);
      write_be32(sender.id, payload + 4);
      write_be32(seq, payload + 8);
      write_be32(check_word(sender.id, seq), payload + 12);
      ++sender.queued;
    }
  }

  void close_client(Client& client, std::string reason) {
    if (client.closed) return;
    client.closed = true;
    client.close_reason = std::move(reason);
    client.closed_after = data_started_ ? seconds_between(*data_started_, Clock::now()) : -1.0;
  }

  // One poll over every socket, then one recv/send per ready socket.
  void poll_once(Clock::time_point until) {
    std::vector<pollfd> watched(total());
    for (std::size_t i = 0; i < total(); ++i) {
      const Client& client = clients_[i];
      short events = 0;
      if (!client.slow) events |= POLLIN;  // the slow client never reads
      if (client.out_pos < client.out.size()) events |= POLLOUT;
      // events == 0 still reports POLLHUP/POLLERR: how we see the slow
      // client's connection reset by the server without reading it.
      watched[i] = {client.closed ? -1 : client.fd.get(), events, 0};
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    const int rc = ::poll(watched.data(), watched.size(), static_cast<int>(std::max<long>(0, left)));
    if (rc <= 0) return;  // timeout, or EINTR: the caller loops
    for (std::size_t i = 0; i < total(); ++i) {
      Client& client = clients_[i];
      const short revents = watched[i].revents;
      if (revents == 0 || client.closed) continue;
      if (client.slow) {
        if (revents & (POLLHUP | POLLERR)) close_client(client, "closed by the server");
        else if (revents & POLLOUT) send_some(client);
        continue;
      }
      if (revents & (POLLIN | POLLHUP | POLLERR)) receive(client);
      if (!client.closed && (revents & POLLOUT)) send_some(client);
    }
  }

  void send_some(Client& client) {
    const ssize_t n = cs::send_some(client.fd.get(), cs::ByteView(client.out).subspan(client.out_pos));
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) close_client(client, std::strerror(errno));
      return;
    }
    client.out_pos += static_cast<std::size_t>(n);
    if (data_started_) client.data_bytes_sent += static_cast<std::uint64_t>(n);
  }

  void receive(Client& client) {
    const std::size_t at = client.in.size();
    client.in.resize(at + receive_chunk);
    const ssize_t n = cs::recv_some(client.fd.get(), std::span(client.in).subspan(at));
    client.in.resize(at + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    if (n == 0) {
      close_client(client, "closed by the server");
    } else if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) close_client(client, std::strerror(errno));
    } else {
      parse(client);
    }
  }

  void count_corrupt(Client& client) {
    ++client.corrupt;
    client.in_pos += 1;  // the next header is somewhere after this byte
    client.resyncing = true;
  }

  void parse(Client& client) {
    cs::Bytes& in = client.in;
    for (;;) {
      if (client.resyncing) {
        const auto from = in.begin() + static_cast<std::ptrdiff_t>(client.in_pos);
        const auto found = std::search(from, in.end(), data_marker_.begin(), data_marker_.end());
        if (found == in.end()) {
          // Keep the last bytes: a marker may be split across two receives.
          client.in_pos = std::max(client.in_pos, in.size() - std::min(in.size(), std::size_t{7}));
          break;
        }
        client.in_pos = static_cast<std::size_t>(found - in.begin());
        client.resyncing = false;
      }
      const std::size_t available = in.size() - client.in_pos;
      if (available < cs::frame_header_length) break;
      const cs::Byte* frame = &in[client.in_pos];
      const std::uint32_t length = read_be32(frame);
      const cs::Byte* payload = frame + cs::frame_header_length;
      if (length == hello_length) {  // --size is at least 16, so never this
        if (available < cs::frame_header_length + hello_length) break;
        const std::uint32_t id = read_be32(payload + 4);
        if (!std::equal(hello_magic.begin(), hello_magic.end(), payload) || id >= total()) {
          count_corrupt(client);
          continue;
        }
        if (id != client.id) seen_hello_[id] = true;
        client.in_pos += cs::frame_header_length + hello_length;
        continue;
      }
      if (length != o_.size) {  // a desynchronised stream: this is no header
        count_corrupt(client);
        continue;
      }
      if (available < cs::frame_header_length + length) break;
      const std::uint32_t sender = read_be32(payload + 4);
      const std::uint32_t seq = read_be32(payload + 8);
      const bool intact =
          std::equal(data_magic.begin(), data_magic.end(), payload) && sender < o_.senders &&
          read_be32(payload + 12) == check_word(sender, seq) &&
          std::memcmp(payload + data_header, patterns_[sender].data() + data_header,
                      o_.size - data_header) == 0;
      if (!intact) {
        count_corrupt(client);
        continue;
      }
      client.in_pos += cs::frame_header_length + length;
      if (sender == client.id) {
        ++client.own;
      } else if (seq < client.next_seq[sender]) {
        ++client.corrupt;  // a duplicate, or out of its sender's order
      } else {
        client.next_seq[sender] = seq + 1;  // a gap shows as missing frames
        ++client.received[sender];
        ++interval_frames_;
      }
    }
    if (client.in_pos == in.size()) {
      in.clear();
      client.in_pos = 0;
    } else if (client.in_pos > (1u << 20)) {
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(client.in_pos));
      client.in_pos = 0;
    }
  }

  bool everything_delivered() const {
    if (o_.frames == 0) return false;
    for (const Client& sender : clients_) {
      if (!sender.sender || sender.closed) continue;
      if (sender.queued < o_.frames || sender.out_pos < sender.out.size()) return false;
      if (delivered_to_all(sender) < o_.frames) return false;
    }
    return true;
  }

  void run_data_phase() {
    data_started_ = Clock::now();
    sending_ = true;
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o_.interval));
    const auto deadline = *data_started_ + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(o_.duration));
    auto next_tick = *data_started_ + interval;
    for (;;) {
      for (Client& client : clients_) {
        if (client.sender) top_up(client);
      }
      poll_once(std::min(next_tick, deadline));
      const auto now = Clock::now();
      while (now >= next_tick) {
        rates_.push_back(interval_frames_);
        interval_frames_ = 0;
        next_tick += interval;
      }
      if (everything_delivered()) {
        finished_ = now;
        complete_ = true;
        return;
      }
      if (now >= deadline) {
        finished_ = now;
        return;
      }
    }
  }

  std::uint64_t frames_sent(const Client& sender) const {
    return sender.data_bytes_sent / (cs::frame_header_length + o_.size);
  }

  int report() {
    const double elapsed = seconds_between(*data_started_, finished_);
    if (interval_frames_ > 0) rates_.push_back(interval_frames_);  // the last, partial interval
    std::uint64_t expected_total = 0, received_total = 0, corrupt_total = 0, own_total = 0;
    std::ostringstream receivers;
    std::vector<const Client*> dropped;
    bool first = true;
    for (const Client& client : clients_) {
      if (client.slow) continue;
      if (client.closed) dropped.push_back(&client);
      std::uint64_t expected = 0, received = 0;
      std::ostringstream from;
      for (const Client& sender : clients_) {
        if (!sender.sender) continue;
        if (sender.id != client.id) expected += frames_sent(sender);
        received += client.received[sender.id];
        from << (sender.id == 0 ? "" : ",") << client.received[sender.id];
      }
      expected_total += expected;
      received_total += received;
      corrupt_total += client.corrupt;
      own_total += client.own;
      receivers << (first ? "" : ",\n    ") << "{\"client\": " << client.id
                << ", \"address\": " << json_string(client.address) << ", \"expected\": " << expected
                << ", \"received\": " << received << ", \"corrupt\": " << client.corrupt
                << ", \"own\": " << client.own << ", \"from\": [" << from.str() << "]}";
      first = false;
    }
    const std::uint64_t missing = expected_total - std::min(expected_total, received_total);

    std::ostringstream json;
    json << std::fixed << std::setprecision(3);
    json << "{\n  \"clients\": " << o_.clients << ", \"senders\": " << o_.senders
         << ", \"frames_per_sender\": " << o_.frames << ", \"size\": " << o_.size
         << ", \"window\": " << o_.window << ", \"slow_client\": " << (o_.slow ? "true" : "false")
         << ",\n  \"complete\": " << (complete_ ? "true" : "false") << ", \"elapsed_s\": " << elapsed
         << ",\n  \"frames_expected\": " << expected_total << ", \"frames_received\": " << received_total
         << ", \"frames_missing\": " << missing << ", \"frames_corrupt\": " << corrupt_total
         << ", \"own_frames\": " << own_total
         << ",\n  \"delivered_per_s\": " << (elapsed > 0 ? received_total / elapsed : 0.0)
         << ", \"interval_s\": " << o_.interval << ", \"rate_per_interval\": [";
    for (std::size_t i = 0; i < rates_.size(); ++i) json << (i ? ", " : "") << rates_[i];
    json << "],\n  \"dropped\": [";
    for (std::size_t i = 0; i < dropped.size(); ++i) {
      json << (i ? ", " : "") << "{\"client\": " << dropped[i]->id
           << ", \"address\": " << json_string(dropped[i]->address)
           << ", \"after_s\": " << dropped[i]->closed_after
           << ", \"reason\": " << json_string(dropped[i]->close_reason) << "}";
    }
    json << "],\n  \"slow\": ";
    if (o_.slow) {
      const Client& slow = clients_.back();
      json << "{\"address\": " << json_string(slow.address)
           << ", \"closed_by_server\": " << (slow.closed ? "true" : "false")
           << ", \"after_s\": ";
      if (slow.closed) {
        json << slow.closed_after << "}";
      } else {
        json << "null}";
      }
    } else {
      json << "null";
    }
    json << ",\n  \"receivers\": [\n    " << receivers.str() << "]\n}\n";
    std::cout << json.str() << std::flush;

    const bool ok = corrupt_total == 0 && own_total == 0 && dropped.empty() &&
                    (o_.frames == 0 || (complete_ && missing == 0));
    std::cerr << std::fixed << std::setprecision(2) << "chat-stress: " << o_.clients
              << " clients, " << o_.senders << " senders x "
              << (o_.frames ? std::to_string(o_.frames) : std::string("unlimited"))
              << " frames of " << o_.size << " bytes, window " << o_.window
              << (o_.slow ? ", plus 1 client that never reads" : "") << "\n"
              << "  " << (complete_ ? "complete" : "stopped") << " after " << elapsed << " s: "
              << received_total << "/" << expected_total << " frames received intact, "
              << corrupt_total << " corrupt, " << missing
              << (complete_ ? " missing, " : " not received (lost, or in flight when it stopped), ")
              << own_total << " own; " << std::setprecision(0)
              << (elapsed > 0 ? received_total / elapsed : 0.0) << " frames/s\n"
              << "  receivers dropped by the server: " << dropped.size();
    if (o_.slow) {
      std::cerr << "; slow client "
                << (clients_.back().closed ? "dropped by the server" : "still connected");
    }
    std::cerr << "\n  " << (ok ? "OK" : "FAILED") << "\n";
    return ok ? 0 : exit_verification_failed;
  }

  const StressOptions o_;
  std::vector<cs::Bytes> patterns_;  // per sender: the body of each of its frames
  cs::Bytes data_marker_;            // a data frame's first 8 bytes: length and "CHAT"
  std::vector<Client> clients_;      // the first o_.senders send; the slow one is last
  std::vector<bool> seen_hello_;     // per client: someone received its hello
  bool sending_ = false;
  std::optional<Clock::time_point> data_started_;
  Clock::time_point finished_{};
  bool complete_ = false;
  std::uint64_t interval_frames_ = 0;
  std::vector<std::uint64_t> rates_;  // intact frames received per interval, all receivers
};

}  // namespace

int main(int argc, char** argv) {
  StressOptions options;
  CLI::App app("chat-stress: many chat clients that send large frames and verify every frame",
               "chat-stress");
  app.add_option("--port", options.port, "Port of the chat server")
      ->required()
      ->check(CLI::Range(1, 65535));
  app.add_option("--host", options.host, "IPv4 address of the chat server")->capture_default_str();
  app.add_option("--clients", options.clients, "Clients that join and read")
      ->check(CLI::Range(2u, 2000u))
      ->capture_default_str();
  app.add_option("--senders", options.senders, "How many of them send (0: all)")
      ->check(CLI::Range(0u, 2000u))
      ->capture_default_str();
  app.add_option("--frames", options.frames, "Frames per sender (0: send until --duration)")
      ->capture_default_str();
  app.add_option("--size", options.size, "Payload bytes of every data frame")
      ->check(CLI::Range(std::uint32_t{data_header}, std::uint32_t{64} << 20))
      ->capture_default_str();
  app.add_option("--window", options.window,
                 "Frames a sender may be ahead of the slowest live receiver")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_flag("--slow", options.slow, "Add one client that joins and never reads");
  app.add_option("--duration", options.duration, "Longest the sending phase may last, seconds")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--interval", options.interval, "Seconds per entry of rate_per_interval")
      ->check(CLI::Range(0.01, 60.0))
      ->capture_default_str();
  cs::parse_or_exit(app, argc, argv);  // --help: exit 0; a bad argument: exit 2
  if (options.senders == 0 || options.senders > options.clients) options.senders = options.clients;
  std::signal(SIGPIPE, SIG_IGN);  // sends use MSG_NOSIGNAL; this covers stdout
  return Stress(options).run();
}
