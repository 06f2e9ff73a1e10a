// chat: --connections clients join a chat server; the first --senders of
// them each send --rate messages per second (open loop: on a schedule,
// whatever the server's speed); every client reads everything, so the
// server never waits for this tool. A message carries its sender, a
// sequence number and its send time; a receiver records the delivery
// latency, and a gap in a sender's sequence is a lost message.
//
// Joining: the chat protocol has no acknowledgement, so a client is known
// to be in the room once another client received its hello (a frame
// "LGHI" + id). A hello that reached nobody (its client was the first in
// the room, say) is sent again, after 50 ms, then 100, 200, up to every
// 800 ms: every hello goes to every client in the room, so re-sending all of
// them every 50 ms would flood a room of hundreds (N hellos x N receivers,
// 20 times a second) and measure the flood instead of the chat. Only once
// every client was seen does the measured traffic start, so a message is
// never "lost" to a client that had not joined yet. By default every client
// must join; with --join-timeout S the clients still out of the room after
// S seconds (refused, or waiting in a full listen queue) are closed and
// counted as join failures, and the others chat: the listen-backlog
// experiment measures both the success rate and the throughput that way.
// The senders are then the first --senders clients in the room.
//
// Message layout (big-endian): "LGMW" (warm-up) or "LGMS" (measured), the
// sender (4 bytes), the sequence number (8), the send time in ns of this
// process's steady clock (8), then filler up to --size bytes, checked too,
// so a frame torn by another writer shows as corrupt.
//
// deliveries_expected counts, for each measured message, every client but
// its sender; lost is what of that never arrived (gaps, clients the server
// dropped, deliveries still missing after --drain).
#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "cs/frame_codec.hpp"
#include "cs/log.hpp"
#include "modes.hpp"
#include "net.hpp"

namespace loadgen {

namespace {

constexpr std::array<cs::Byte, 4> hello_magic = {'L', 'G', 'H', 'I'};
constexpr std::array<cs::Byte, 4> warmup_magic = {'L', 'G', 'M', 'W'};
constexpr std::array<cs::Byte, 4> measured_magic = {'L', 'G', 'M', 'S'};
constexpr std::size_t hello_size = 8;
constexpr auto first_hello_resend = std::chrono::milliseconds(50);
constexpr auto last_hello_resend = std::chrono::milliseconds(800);
constexpr std::size_t receive_chunk = 64 * 1024;
// Frames longer than this are not ours; a sane bound for the decoder.
constexpr std::uint32_t max_frame = 1u << 20;

void put_be(std::uint64_t value, std::size_t bytes, cs::Byte* out) {
  for (std::size_t i = 0; i < bytes; ++i) out[i] = static_cast<cs::Byte>(value >> (8 * (bytes - 1 - i)));
}

std::uint64_t get_be(const cs::Byte* in, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes; ++i) value = (value << 8) | in[i];
  return value;
}

cs::Byte filler(std::size_t offset) { return static_cast<cs::Byte>('A' + offset % 26); }

struct ChatClient {
  std::uint32_t id = 0;
  cs::FileDescriptor fd;
  bool connected = false;
  bool dropped = false;
  cs::FrameDecoder decoder{max_frame};
  cs::Bytes out;
  std::size_t out_pos = 0;
  std::uint32_t events = 0;
  std::vector<std::uint64_t> next_seq;  // per sender: the sequence number due next
  Clock::time_point next_hello{};        // joining: when to send the hello (again)
  Clock::duration hello_backoff = first_hello_resend;
};

class ChatRun {
 public:
  ChatRun(const LoadOptions& o, const cs::StopSignal& stop)
      : o_(o), stop_(stop), address_(ipv4_address(o.host, o.port)) {}

  std::string run() {
    const double cpu_before = process_cpu_seconds();
    epoll_.add(stop_.wait_fd(), EPOLLIN, nullptr);
    const bool joined = join();
    const auto data_start = Clock::now();
    if (joined) send_and_receive();
    JsonLine json;
    const double measured = std::chrono::duration<double>(measured_end_ - measure_from_).count();
    const std::uint64_t expected = deliveries_expected();
    json.add("mode", "chat")
        .add("connections", o_.connections)
        .add("senders", o_.senders)
        .add("rate", o_.rate)
        .add("size", std::uint64_t{o_.size})
        .add("joined", joined)
        .add("clients_in_room", in_room_)
        .add("join_failures", o_.connections - in_room_)
        .add("join_success_rate", static_cast<double>(in_room_) / o_.connections)
        .add("seconds", joined ? measured : 0.0)
        .add("messages_sent", measured_sent_)
        .add("deliveries", measured_delivered_)
        .add("deliveries_expected", expected)
        .add("lost", expected > measured_delivered_ ? expected - measured_delivered_ : 0)
        .add("requests", measured_delivered_)
        .add("rps", joined && measured > 0 ? static_cast<double>(measured_delivered_) / measured : 0.0)
        .add_latencies(latency_)
        .add("errors", corrupt_ + misordered_)
        .add("corrupt", corrupt_)
        .add("misordered", misordered_)
        .add("clients_dropped", dropped_)
        .add("connect_failures", connect_failures_)
        .add("seconds_to_join", std::chrono::duration<double>(data_start - start_).count())
        .add("loadgen_cpu_s", process_cpu_seconds() - cpu_before)
        .add("stopped_early", stop_.stop_requested());
    return json.str();
  }

 private:
  // Connects every client and waits until each one's hello reached someone.
  bool join() {
    start_ = Clock::now();
    clients_.resize(o_.connections);
    seen_.assign(o_.connections, false);
    for (std::uint32_t id = 0; id < o_.connections; ++id) {
      ChatClient& c = clients_[id];
      c.id = id;
      c.next_seq.assign(o_.senders, 0);
      // Always TCP_NODELAY: each message goes out with one send(), and a
      // chat measures delivery latency, which Nagle would only add to.
      c.fd = start_connect(address_, true);
      if (!c.fd) {
        ++connect_failures_;
        if (o_.join_timeout > 0) {  // a join failure, counted at the end of join()
          cs::log_warn("client ", id, " cannot connect: ", std::strerror(errno));
          c.dropped = true;
          continue;
        }
        cs::log_error("client ", id, " cannot connect: ", std::strerror(errno));
        return false;
      }
      c.events = EPOLLOUT;
      epoll_.add(c.fd.get(), c.events, &c);
    }
    const bool tolerant = o_.join_timeout > 0;
    const auto deadline =
        start_ + (tolerant ? seconds_to_duration(o_.join_timeout)
                           : seconds_to_duration(o_.connect_timeout) + std::chrono::seconds(5));
    auto someone_is_out = [this] {
      return std::any_of(clients_.begin(), clients_.end(),
                         [this](const ChatClient& c) { return !c.dropped && !seen_[c.id]; });
    };
    while (someone_is_out()) {
      const auto now = Clock::now();
      if (stop_.stop_requested()) return false;
      if (now >= deadline) {
        if (tolerant) return close_the_room();
        cs::log_error("only ", std::count(seen_.begin(), seen_.end(), true), " of ",
                      o_.connections, " clients joined the room in time");
        return false;
      }
      for (ChatClient& c : clients_) {
        if (c.connected && !c.dropped && !seen_[c.id] && now >= c.next_hello) {
          queue_hello(c);
          c.next_hello = now + c.hello_backoff;
          c.hello_backoff = std::min<Clock::duration>(c.hello_backoff * 2, last_hello_resend);
        }
      }
      poll_once(std::chrono::milliseconds(10));
      if (dropped_ > 0 && !tolerant) {
        cs::log_error("the server closed a client while clients were joining");
        return false;
      }
    }
    if (tolerant) return close_the_room();
    cs::log_info("chat: ", o_.connections, " clients joined in ",
                 std::chrono::duration<double>(Clock::now() - start_).count(), " s");
    choose_senders();
    return true;
  }

  // --join-timeout: the clients in the room (seen, still connected) chat;
  // the others are closed. Failures before this point were join failures,
  // so dropped_ restarts from zero.
  bool close_the_room() {
    for (ChatClient& c : clients_) {
      if (!c.dropped && !seen_[c.id]) {
        epoll_.remove(c.fd.get());
        c.fd.reset();
        c.dropped = true;
      }
    }
    dropped_ = 0;
    choose_senders();
    cs::log_info("chat: ", in_room_, " of ", o_.connections, " clients joined in ",
                 std::chrono::duration<double>(Clock::now() - start_).count(), " s");
    if (in_room_ < 2 || senders_.size() < o_.senders) {
      cs::log_error("only ", in_room_, " clients joined the room in time: too few to chat with ",
                    o_.senders, " sender(s)");
      return false;
    }
    return true;
  }

  void choose_senders() {
    sender_slot_.assign(clients_.size(), -1);
    in_room_ = 0;
    for (ChatClient& c : clients_) {
      if (c.dropped) continue;
      ++in_room_;
      if (senders_.size() < o_.senders) {
        sender_slot_[c.id] = static_cast<int>(senders_.size());
        senders_.push_back(c.id);
      }
    }
  }

  void send_and_receive() {
    const auto begin = Clock::now();
    measure_from_ = begin + seconds_to_duration(o_.warmup);
    measured_end_ = measure_from_ + seconds_to_duration(o_.seconds);
    const auto interval = seconds_to_duration(1.0 / o_.rate);
    std::vector<Clock::time_point> next_send(o_.senders);
    std::vector<std::uint64_t> seq(o_.senders, 0);
    for (unsigned s = 0; s < o_.senders; ++s) {
      // Spread the senders over one interval so they do not all fire at once.
      next_send[s] = begin + interval * s / o_.senders;
    }
    for (;;) {
      const auto now = Clock::now();
      if (now >= measured_end_ || stop_.stop_requested()) break;
      auto soonest = measured_end_;
      for (unsigned s = 0; s < o_.senders; ++s) {
        ChatClient& c = clients_[senders_[s]];
        // Catch up on a late wake-up, but never with more than a few at once.
        for (int burst = 0; next_send[s] <= now && burst < 4; ++burst) {
          if (!c.dropped) queue_message(c, seq[s]++, next_send[s] >= measure_from_, now);
          next_send[s] += interval;
        }
        if (next_send[s] <= now) next_send[s] = now + interval;  // too far behind: skip ahead
        soonest = std::min(soonest, next_send[s]);
        if (!c.dropped) flush(c);
      }
      poll_once(std::chrono::ceil<std::chrono::milliseconds>(
          std::max(soonest - Clock::now(), Clock::duration::zero())));
    }
    measured_end_ = std::min(measured_end_, Clock::now());
    const auto drain_until = Clock::now() + seconds_to_duration(o_.drain);
    const std::uint64_t expected = deliveries_expected();
    while (Clock::now() < drain_until && !stop_.stop_requested() &&
           measured_delivered_ < expected) {
      for (const std::uint32_t id : senders_) {
        if (!clients_[id].dropped) flush(clients_[id]);
      }
      poll_once(std::chrono::milliseconds(10));
    }
  }

  // Each measured message, to every client in the room but its sender.
  std::uint64_t deliveries_expected() const {
    return measured_sent_ * (in_room_ > 0 ? in_room_ - 1 : 0);
  }

  void queue_hello(ChatClient& c) {
    cs::Byte payload[hello_size];
    std::copy(hello_magic.begin(), hello_magic.end(), payload);
    put_be(c.id, 4, payload + 4);
    cs::append_frame(cs::ByteView(payload, hello_size), c.out);
    flush(c);
  }

  void queue_message(ChatClient& c, std::uint64_t seq, bool measured, Clock::time_point now) {
    cs::Bytes payload(o_.size);
    const auto& magic = measured ? measured_magic : warmup_magic;
    std::copy(magic.begin(), magic.end(), payload.begin());
    put_be(c.id, 4, payload.data() + 4);
    put_be(seq, 8, payload.data() + 8);
    put_be(nanoseconds_between(epoch_, now), 8, payload.data() + 16);
    for (std::size_t i = chat_header_size; i < payload.size(); ++i) payload[i] = filler(i);
    cs::append_frame(payload, c.out);
    if (measured) ++measured_sent_;
  }

  void flush(ChatClient& c) {
    if (!c.connected || c.dropped) return;
    while (c.out_pos < c.out.size()) {
      const ssize_t sent = cs::send_some(c.fd.get(), cs::ByteView(c.out).subspan(c.out_pos));
      if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        drop(c, "send failed");
        return;
      }
      c.out_pos += static_cast<std::size_t>(sent);
    }
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      c.out_pos = 0;
    }
    set_events(c, EPOLLIN | (c.out.empty() ? 0u : EPOLLOUT));
  }

  void set_events(ChatClient& c, std::uint32_t events) {
    if (events == c.events) return;
    c.events = events;
    epoll_.modify(c.fd.get(), events, &c);
  }

  void drop(ChatClient& c, const char* why) {
    if (c.dropped) return;
    cs::log_warn("client ", c.id, " lost its connection: ", why);
    c.dropped = true;
    ++dropped_;
    epoll_.remove(c.fd.get());
    c.fd.reset();
  }

  void poll_once(std::chrono::milliseconds timeout) {
    for (const epoll_event& event : epoll_.wait(timeout)) {
      if (event.data.ptr == nullptr) continue;
      ChatClient& c = *static_cast<ChatClient*>(event.data.ptr);
      if (!c.connected) {
        if (const int error = connect_error(c.fd.get()); error != 0) {
          ++connect_failures_;
          drop(c, std::strerror(error));
          continue;
        }
        c.connected = true;
        flush(c);
        continue;
      }
      if (event.events & EPOLLOUT) flush(c);
      if (!c.dropped && (event.events & (EPOLLIN | EPOLLERR | EPOLLHUP))) receive(c);
    }
  }

  void receive(ChatClient& c) {
    cs::Byte buffer[receive_chunk];
    for (;;) {
      const ssize_t n = cs::recv_some(c.fd.get(), buffer);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {
        drop(c, n == 0 ? "the server closed it" : std::strerror(errno));
        return;
      }
      const auto now = Clock::now();
      c.decoder.feed(cs::ByteView(buffer, static_cast<std::size_t>(n)));
      while (auto frame = c.decoder.next()) on_frame(c, *frame, now);
      if (c.decoder.error()) {
        ++corrupt_;
        drop(c, "a frame header announced an impossible length");
        return;
      }
    }
  }

  void on_frame(ChatClient& c, cs::ByteView frame, Clock::time_point now) {
    if (frame.size() == hello_size && std::equal(hello_magic.begin(), hello_magic.end(), frame.begin())) {
      const auto from = get_be(frame.data() + 4, 4);
      if (from < seen_.size() && from != c.id) seen_[from] = true;
      return;
    }
    const bool measured = frame.size() >= 4 && std::equal(measured_magic.begin(), measured_magic.end(), frame.begin());
    const bool warmup = frame.size() >= 4 && std::equal(warmup_magic.begin(), warmup_magic.end(), frame.begin());
    if (frame.size() != o_.size || (!measured && !warmup)) {
      ++corrupt_;
      return;
    }
    const auto sender = get_be(frame.data() + 4, 4);
    const auto seq = get_be(frame.data() + 8, 8);
    const auto sent_at = get_be(frame.data() + 16, 8);
    const int slot = sender < sender_slot_.size() ? sender_slot_[sender] : -1;
    bool intact = slot >= 0 && sender != c.id;
    for (std::size_t i = chat_header_size; intact && i < frame.size(); ++i) intact = frame[i] == filler(i);
    if (!intact) {
      ++corrupt_;
      return;
    }
    if (seq < c.next_seq[slot]) {
      ++misordered_;
      return;
    }
    c.next_seq[slot] = seq + 1;  // a jump over missing numbers shows as lost at the end
    if (measured) {
      ++measured_delivered_;
      latency_.record(nanoseconds_between(epoch_ + std::chrono::nanoseconds(sent_at), now));
    }
  }

  const LoadOptions& o_;
  const cs::StopSignal& stop_;
  sockaddr_in address_;
  Epoll epoll_;
  std::vector<ChatClient> clients_;
  std::vector<bool> seen_;  // clients whose hello reached someone
  std::vector<std::uint32_t> senders_;  // client ids of the senders, in sender order
  std::vector<int> sender_slot_;        // per client id: its index in senders_, or -1
  std::uint32_t in_room_ = 0;           // clients that joined and chat
  const Clock::time_point epoch_ = Clock::now();
  Clock::time_point start_{}, measure_from_{}, measured_end_{};
  std::uint64_t measured_sent_ = 0, measured_delivered_ = 0;
  std::uint64_t corrupt_ = 0, misordered_ = 0, dropped_ = 0, connect_failures_ = 0;
  LatencyHistogram latency_;
};

}  // namespace

std::string run_chat(const LoadOptions& options, const cs::StopSignal& stop) {
  cs::log_info("chat: ", options.connections, " clients, ", options.senders, " sending ",
               options.rate, " msg/s of ", options.size, " bytes, ", options.warmup,
               " s warm-up + ", options.seconds, " s");
  return ChatRun(options, stop).run();
}

}  // namespace loadgen
