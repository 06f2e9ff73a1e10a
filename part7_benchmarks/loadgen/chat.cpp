// chat: --connections clients join a chat server; the first --senders of
// them (--senders 0: all of them) send, and every client reads everything,
// so the server never waits for this tool to read. How they send:
//   - open loop (the default): --rate messages per second each, on a
//     schedule, whatever the server's speed;
//   - closed loop (--in-flight K): each sender sends its next message as
//     soon as fewer than K of its messages are still on their way to
//     someone in the room (SendWindow, chat_window.hpp), so the room runs
//     as fast as the server delivers: its capacity, whatever it is, with
//     at most K messages per sender inside the server at once.
// A message carries its sender, a sequence number and its send time; a
// receiver records the delivery latency, and a gap in a sender's sequence
// is a lost message.
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
// Throughput (rps) is the deliveries that arrived inside the measured
// window, of any message, per second of it: the rate at which receivers got
// messages. deliveries and lost count the messages sent inside the window,
// whenever they arrived (up to --drain seconds after it).
//
// Message layout (big-endian): "LGMW" (warm-up) or "LGMS" (measured), the
// sender (4 bytes), the sequence number (8), the send time in ns of this
// process's steady clock (8), then filler up to --size bytes, checked too,
// so a frame torn by another writer shows as corrupt.
//
// deliveries_expected counts, for each measured message, every client but
// its sender; lost is what of that never arrived (gaps, clients the server
// dropped, deliveries still missing after --drain). In the closed loop a
// message still on its way --drain seconds after it was sent is given up
// (gave_up counts the deliveries it still expected), so that one message
// the server lost or tore cannot stop its sender for good.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "chat_window.hpp"
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
// Closed loop: how often the senders' oldest messages are checked against
// the patience (--drain); far below any patience worth setting.
constexpr auto give_up_check_interval = std::chrono::milliseconds(20);
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
  std::vector<std::uint64_t> next_seq;  // per sender slot: the sequence number due next
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
    const double window_cpu = cpu_at_window_start_ ? cpu_at_window_end_ - *cpu_at_window_start_ : 0.0;
    json.add("mode", "chat")
        .add("connections", o_.connections)
        .add("senders", static_cast<std::uint64_t>(senders_.size()))
        .add("in_flight", o_.in_flight)
        .add("rate", closed_loop() ? 0.0 : o_.rate)  // 0: closed loop, no fixed rate
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
        .add("gave_up", gave_up_)
        .add("requests", window_delivered_)
        .add("rps", joined && measured > 0 ? static_cast<double>(window_delivered_) / measured : 0.0)
        .add_latencies(latency_)
        .add("errors", corrupt_ + misordered_)
        .add("corrupt", corrupt_)
        .add("misordered", misordered_)
        .add("clients_dropped", dropped_)
        .add("connect_failures", connect_failures_)
        .add("seconds_to_join", std::chrono::duration<double>(data_start - start_).count())
        .add("loadgen_cpu_s", process_cpu_seconds() - cpu_before)
        .add("loadgen_cpu_window_s", window_cpu)
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
    if (in_room_ < 2 || senders_.size() < senders_wanted()) {
      cs::log_error("only ", in_room_, " clients joined the room in time: too few to chat with ",
                    o_.senders, " sender(s)");
      return false;
    }
    return true;
  }

  // --senders 0: every client in the room (known once the room is closed).
  std::size_t senders_wanted() const { return o_.senders > 0 ? o_.senders : in_room_; }
  bool closed_loop() const { return o_.in_flight > 0; }

  void choose_senders() {
    sender_slot_.assign(clients_.size(), -1);
    in_room_ = static_cast<std::uint32_t>(
        std::count_if(clients_.begin(), clients_.end(), [](const ChatClient& c) { return !c.dropped; }));
    for (ChatClient& c : clients_) {
      if (!c.dropped && senders_.size() < senders_wanted()) {
        sender_slot_[c.id] = static_cast<int>(senders_.size());
        senders_.push_back(c.id);
      }
    }
    for (ChatClient& c : clients_) c.next_seq.assign(senders_.size(), 0);
    if (closed_loop()) windows_.assign(senders_.size(), SendWindow(o_.in_flight));
  }

  void send_and_receive() {
    cs::log_info("chat: ", in_room_, " clients in the room; sending for ", o_.warmup, " s warm-up + ",
                 o_.seconds, " s");
    const auto begin = Clock::now();
    measure_from_ = begin + seconds_to_duration(o_.warmup);
    measured_end_ = measure_from_ + seconds_to_duration(o_.seconds);
    if (closed_loop()) {
      send_closed_loop();
    } else {
      send_open_loop(begin);
    }
    cpu_at_window_end_ = process_cpu_seconds();
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

  void send_open_loop(Clock::time_point begin) {
    const std::size_t senders = senders_.size();
    const auto interval = seconds_to_duration(1.0 / o_.rate);
    std::vector<Clock::time_point> next_send(senders);
    std::vector<std::uint64_t> seq(senders, 0);
    for (std::size_t s = 0; s < senders; ++s) {
      // Spread the senders over one interval so they do not all fire at once.
      next_send[s] = begin + interval * s / senders;
    }
    for (;;) {
      const auto now = Clock::now();
      if (now >= measured_end_ || stop_.stop_requested()) break;
      note_window_start(now);
      auto soonest = measured_end_;
      for (std::size_t s = 0; s < senders; ++s) {
        ChatClient& c = clients_[senders_[s]];
        // Every message whose time has come goes now, stamped with the time
        // it was due, not the time the loop got to it, and none is skipped:
        // a late wake-up (the loop busy receiving, a server slow to drain
        // this socket) then shows as latency instead of vanishing from the
        // record. Stamping the send time, or skipping ahead, would measure
        // only the messages the server let through on time: coordinated
        // omission (exercise part7-2).
        while (next_send[s] <= now) {
          if (!c.dropped) queue_message(c, seq[s]++, next_send[s] >= measure_from_, next_send[s]);
          next_send[s] += interval;
        }
        soonest = std::min(soonest, next_send[s]);
        if (!c.dropped) flush(c);
      }
      poll_once(std::chrono::ceil<std::chrono::milliseconds>(
          std::max(soonest - Clock::now(), Clock::duration::zero())));
    }
  }

  // Every sender fills its window whenever a delivery settles a message;
  // the event loop does nothing else, so the room goes as fast as the
  // server delivers.
  void send_closed_loop() {
    const auto patience = seconds_to_duration(o_.drain);
    auto next_check = Clock::now() + give_up_check_interval;
    for (;;) {
      const auto now = Clock::now();
      if (now >= measured_end_ || stop_.stop_requested()) break;
      note_window_start(now);
      if (now >= next_check) {
        for (SendWindow& window : windows_) gave_up_ += window.give_up_before(now - patience);
        next_check = now + give_up_check_interval;
      }
      // Every client in the room but the sender expects the message.
      const std::uint32_t receivers = in_room_ - static_cast<std::uint32_t>(dropped_) - 1;
      for (std::size_t s = 0; s < senders_.size(); ++s) {
        ChatClient& c = clients_[senders_[s]];
        if (c.dropped || !windows_[s].can_send()) continue;
        while (windows_[s].can_send()) {
          queue_message(c, windows_[s].send(receivers, now), now >= measure_from_, now);
        }
        flush(c);
      }
      poll_once(std::chrono::ceil<std::chrono::milliseconds>(
          std::max(std::min(measured_end_, next_check) - Clock::now(), Clock::duration::zero())));
    }
  }

  void note_window_start(Clock::time_point now) {
    if (!cpu_at_window_start_ && now >= measure_from_) cpu_at_window_start_ = process_cpu_seconds();
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

  // `stamp` is the time the message counts from: its scheduled time in the
  // open loop, the time it is queued in the closed loop.
  void queue_message(ChatClient& c, std::uint64_t seq, bool measured, Clock::time_point stamp) {
    cs::Bytes payload(o_.size);
    const auto& magic = measured ? measured_magic : warmup_magic;
    std::copy(magic.begin(), magic.end(), payload.begin());
    put_be(c.id, 4, payload.data() + 4);
    put_be(seq, 8, payload.data() + 8);
    put_be(nanoseconds_between(epoch_, stamp), 8, payload.data() + 16);
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
    // Closed loop: what it had not received yet is no longer on its way to it.
    for (std::size_t s = 0; s < windows_.size(); ++s) {
      if (senders_[s] != c.id) windows_[s].settle(c.next_seq[s], std::numeric_limits<std::uint64_t>::max());
    }
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
      // A short read emptied the socket: asking again would only return
      // EAGAIN, one system call per wake-up for nothing (a saturated room
      // wakes each receiver for a frame or two), and the epoll set is
      // level-triggered, so it reports the socket again when more comes.
      if (static_cast<std::size_t>(n) < receive_chunk) return;
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
    // A jump over missing numbers shows as lost at the end; in the closed
    // loop the messages jumped over will never reach this client either.
    if (closed_loop()) windows_[static_cast<std::size_t>(slot)].settle(c.next_seq[slot], seq + 1);
    c.next_seq[slot] = seq + 1;
    if (now >= measure_from_ && now < measured_end_) ++window_delivered_;
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
  std::vector<SendWindow> windows_;     // closed loop: per sender slot, its messages on their way
  std::uint32_t in_room_ = 0;           // clients that joined and chat
  const Clock::time_point epoch_ = Clock::now();
  Clock::time_point start_{}, measure_from_{}, measured_end_{};
  std::uint64_t measured_sent_ = 0, measured_delivered_ = 0;
  std::uint64_t window_delivered_ = 0;  // deliveries of any message inside the measured window
  std::uint64_t gave_up_ = 0;           // closed loop: deliveries still expected of abandoned messages
  std::optional<double> cpu_at_window_start_;
  double cpu_at_window_end_ = 0;
  std::uint64_t corrupt_ = 0, misordered_ = 0, dropped_ = 0, connect_failures_ = 0;
  LatencyHistogram latency_;
};

}  // namespace

std::string run_chat(const LoadOptions& options, const cs::StopSignal& stop) {
  const std::string who =
      options.senders > 0 ? std::to_string(options.senders) + " sending" : std::string("all sending");
  if (options.in_flight > 0) {
    cs::log_info("chat: ", options.connections, " clients, ", who, " in a closed loop (",
                 options.in_flight, " message(s) on their way each) ", options.size, " bytes, ",
                 options.warmup, " s warm-up + ", options.seconds, " s");
  } else {
    cs::log_info("chat: ", options.connections, " clients, ", who, " ", options.rate, " msg/s of ",
                 options.size, " bytes, ", options.warmup, " s warm-up + ", options.seconds, " s");
  }
  return ChatRun(options, stop).run();
}

}  // namespace loadgen
