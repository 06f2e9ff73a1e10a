// asio-client - a closed-loop load tool over part5::Client (client/client.hpp).
//
// Each of --clients connections sends a request, waits for its reply, checks
// it, and sends the next, for --seconds (default 10: the "requests in 10
// seconds" measurement of the Asio/Qt benchmark of MhmRhm/asio-recipes) or
// until --requests replies in all. All the I/O happens on the Clients' threads;
// this thread only waits. The totals go to stdout as one JSON line, for
// scripts; a human summary and any errors go to stderr. Exit status: 0 when
// every request succeeded, 1 otherwise, 2 for a bad argument.
//
// Run:  asio-client 9090 --protocol framed --clients 4 --seconds 5
//       asio-client 9090 --split-writes --clients 1 --seconds 3   # Nagle vs delayed ACK
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "cs/load_client.hpp"
#include "cs/options.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// The shared load-client command line (cs/load_client.hpp), and the
// part5::Client options made of it in run().
struct Settings {
  cs::LoadClientOptions load;
  part5::ClientOptions client;
};

// What all the loops share. Counters are atomics (each loop runs on its own
// Client's thread); the first error's text and the loop count sit under mutex.
struct Totals {
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> started{0};  // requests sent (count mode)
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::condition_variable loop_ended;
  unsigned running = 0;                  // guarded by mutex
  std::string first_error;               // guarded by mutex
  Clock::time_point last_completion;     // guarded by mutex
};

// A payload of printable bytes other than '$' (shift ends a message there).
cs::Bytes make_payload(std::size_t size) {
  cs::Bytes payload(size);
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<cs::Byte>('a' + i % 26);
  return payload;
}

// One closed loop on one Client: each completion sends the next request
// from the Client's own thread.
class Loop {
 public:
  Loop(part5::Client& client, const cs::Bytes& payload, const Settings& settings, Totals& totals)
      : client_(client), payload_(payload), settings_(settings), totals_(totals) {
    for (std::size_t i = 0; i < payload.size(); ++i) {
      expected_.push_back(static_cast<cs::Byte>(payload[i] + 1));
    }
  }

  void send_next() {
    if (totals_.stop.load() || !claim_request()) return end();
    client_.request(payload_, [this](part5::Result result) { on_result(std::move(result)); });
  }

 private:
  bool claim_request() {
    if (settings_.load.requests == 0) return true;
    return totals_.started.fetch_add(1) < settings_.load.requests;
  }

  void on_result(part5::Result result) {
    if (totals_.stop.load()) return end();  // finished after the clock ran out: not counted
    if (result.ok() && result.reply != expected_) {
      result = {part5::Status::protocol_error, {}, "the reply is not the request plus one"};
    }
    if (result.ok()) {
      totals_.ok.fetch_add(1);
    } else {
      totals_.errors.fetch_add(1);
      std::lock_guard lock(totals_.mutex);
      if (totals_.first_error.empty()) totals_.first_error = result.describe();
    }
    {
      std::lock_guard lock(totals_.mutex);
      totals_.last_completion = Clock::now();
    }
    send_next();
  }

  void end() {
    std::lock_guard lock(totals_.mutex);
    --totals_.running;
    totals_.loop_ended.notify_all();
  }

  part5::Client& client_;
  const cs::Bytes& payload_;
  const Settings& settings_;
  Totals& totals_;
  cs::Bytes expected_;
};

int run(Settings& settings) {
  const cs::LoadClientOptions& load = settings.load;
  settings.client.host = load.host;
  settings.client.port = load.port;
  settings.client.protocol = load.protocol();
  settings.client.connect_timeout = load.connect_timeout();
  settings.client.request_timeout = load.request_timeout();
  settings.client.split_writes = load.split_writes;
  settings.client.nodelay = load.nodelay;
  const cs::Bytes payload = make_payload(load.payload_bytes);

  Totals totals;
  std::vector<std::unique_ptr<part5::Client>> clients;
  std::vector<std::unique_ptr<Loop>> loops;
  for (unsigned i = 0; i < load.clients; ++i) {
    clients.push_back(std::make_unique<part5::Client>(settings.client));
    loops.push_back(std::make_unique<Loop>(*clients.back(), payload, settings, totals));
  }

  const auto start = Clock::now();
  const auto time_limit = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(load.seconds));
  totals.running = load.clients;
  totals.last_completion = start;
  for (auto& loop : loops) loop->send_next();

  std::unique_lock lock(totals.mutex);
  if (load.requests == 0) {
    totals.loop_ended.wait_until(lock, time_limit, [&] { return totals.running == 0; });
    totals.stop.store(true);
  }
  // Count mode: every loop ends by itself. Time mode: each ends at its next
  // completion, within one request timeout.
  totals.loop_ended.wait(lock, [&] { return totals.running == 0; });
  const auto end =
      load.requests == 0 ? std::min(Clock::now(), time_limit) : totals.last_completion;
  const std::string first_error = totals.first_error;
  lock.unlock();
  clients.clear();  // joins the Clients' threads before the loops go

  const double seconds = std::chrono::duration<double>(end - start).count();
  return cs::report_load_client("asio-client", load,
                                {totals.ok.load(), totals.errors.load(), seconds, first_error});
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  CLI::App app("Closed-loop load client for the shift and framed protocols", "asio-client");
  cs::add_load_client_options(app, settings.load);
  cs::parse_or_exit(app, argc, argv);  // --help: exit 0; a bad argument: exit 2
  return run(settings);
}
