// Exercise part7-2: latency measured without coordinated omission
// (docs/part7_benchmarks.md, "Exercises").
//
// measure_latencies() plays a client that means to send one request every
// `interval` (request i is due at start + i x interval), one at a time on
// one connection: it waits until a request is due, sends it (one byte),
// waits for the reply (one byte), and records how long the request took.
// When the server stalls, the client stalls with it, and the requests that
// fell due meanwhile go out late.
//
// How long did such a request take? A benchmark that answers "from the
// moment it was sent" leaves out exactly the time the server made it wait
// before it could be sent: a stall of 200 ms shows up as one slow request
// among a thousand fast ones, and the 99th percentile says the server is
// fine. That is coordinated omission (the client coordinates with the
// server and omits the bad samples). A user who clicked at the moment the
// request was due waited from then: latency counts from when the request
// was due.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace exercises {

struct Latencies {
  std::vector<double> ms;   // one per request answered, in order sent
  std::size_t sent_late = 0;  // requests sent after they were due
};

// Sends `count` one-byte requests on `fd`, one every `interval`, and
// records each one's latency in milliseconds. Stops early if the connection
// fails.
Latencies measure_latencies(int fd, std::size_t count, std::chrono::microseconds interval);

}  // namespace exercises
