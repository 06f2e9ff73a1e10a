// What every harness shares: how one fuzz input becomes a limit, a way to
// split a stream and the stream itself; the form of a reference model; and
// the driver that feeds a session chunk by chunk and compares it, after
// every chunk, with what the model says (README.md in this folder).
//
// The input layout, the same for every harness:
//
//   byte 0        the harness's limit (--max-frame, --max-line; unused by
//                 shift and packet)
//   byte 1        k = byte % 8: how many split bytes follow
//   k bytes       chunk sizes, each byte b meaning b + 1 bytes, used in turn
//                 and round again; k = 0 sends the stream as one chunk
//   the rest      the byte stream a client sends
//
// A failed check prints what differed and aborts: libFuzzer reports that as
// a crash and saves the input, which then replays the failure on its own
// (`build/fuzz/fuzz/fuzz-shift crash-...`).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cs/bytes.hpp"
#include "cs/session.hpp"

namespace fuzz {

using cs::Byte;
using cs::Bytes;
using cs::ByteView;

struct Input {
  Byte limit = 0;
  std::vector<std::size_t> chunk_sizes;  // empty: the whole stream in one chunk
  ByteView stream;
};

inline Input parse_input(const std::uint8_t* data, std::size_t size) {
  Input input;
  const ByteView all(data, size);
  if (all.size() < 2) return input;
  input.limit = all[0];
  const std::size_t k = std::min<std::size_t>(all[1] % 8, all.size() - 2);
  for (std::size_t i = 0; i < k; ++i) input.chunk_sizes.push_back(all[2 + i] + std::size_t{1});
  input.stream = all.subspan(2 + k);
  return input;
}

// The stream cut into the chunks the input asks for. Never an empty chunk:
// a server never hands a session zero bytes (a zero-byte read is EOF).
inline std::vector<ByteView> split(ByteView stream, const std::vector<std::size_t>& sizes) {
  std::vector<ByteView> chunks;
  std::size_t position = 0;
  for (std::size_t turn = 0; position < stream.size(); ++turn) {
    const std::size_t wanted = sizes.empty() ? stream.size() : sizes[turn % sizes.size()];
    const std::size_t size = std::min(wanted, stream.size() - position);
    chunks.push_back(stream.subspan(position, size));
    position += size;
  }
  return chunks;
}

// The limit byte as a frame limit (framed, chat, the codec): mostly small,
// so short inputs cross it, plus the protocol's default and the largest
// value a header can hold.
inline std::uint32_t frame_limit(Byte limit) {
  if (limit == 0xFF) return cs::default_max_frame;
  if (limit == 0xFE) return 0xFFFFFFFFu;
  return limit % 64;
}

// ---- reporting --------------------------------------------------------------

inline std::string hex(ByteView bytes, std::size_t at_most = 48) {
  std::string text;
  char digits[4];
  for (std::size_t i = 0; i < bytes.size() && i < at_most; ++i) {
    std::snprintf(digits, sizeof digits, "%02x ", bytes[i]);
    text += digits;
  }
  if (bytes.size() > at_most) text += "... (" + std::to_string(bytes.size()) + " bytes)";
  if (text.empty()) text = "(nothing)";
  return text;
}

[[noreturn]] inline void fail(const std::string& harness, const std::string& what) {
  std::fprintf(stderr, "\n==== fuzz-%s: the session and its model disagree\n%s\n\n",
               harness.c_str(), what.c_str());
  std::fflush(stderr);
  std::abort();
}

// ---- reference models -------------------------------------------------------

// One thing the protocol does because of one byte of the stream: the byte
// at offset `at` makes the session append `reply`, complete a request, or
// decide to close (after appending `reply`). A model lists them in stream
// order, nothing after a close. That list says everything the driver
// checks after a chunk that ends at offset `fed`:
//   output    the replies of every event with at < fed, in order
//   requests  the events with at < fed that complete a request
//   close     whether an event with at < fed closes
//   pending   (request_pending) some byte arrived after the last request
//             completed: fed > (at of that request) + 1, or fed > 0 if none
struct Event {
  std::size_t at = 0;
  Bytes reply;
  bool request = false;
  bool close = false;
};

struct Model {
  Bytes greeting;
  std::vector<Event> events;
};

// ---- the driver -------------------------------------------------------------

// Feeds `stream` to `session` in `chunks` as a server would (greet first,
// stop at the first close verdict) and checks it against `model` after
// every chunk.
inline void drive(const std::string& harness, cs::Session& session, const Model& model,
                  const std::vector<ByteView>& chunks) {
  Bytes greeting;
  session.greet(greeting);
  if (greeting != model.greeting) {
    fail(harness, "greeting: session sent " + hex(greeting) + ", model " + hex(model.greeting));
  }

  // Replies are appended, never written over: each chunk's `out` starts with
  // bytes of an earlier batch, which must still be there afterwards.
  const Bytes earlier = {'o', 'l', 'd'};
  std::size_t fed = 0;
  std::size_t next_event = 0;
  std::uint64_t requests = 0;
  std::size_t last_request_end = 0;  // offset just past the byte that completed the last request
  for (std::size_t index = 0; index < chunks.size(); ++index) {
    const ByteView chunk = chunks[index];
    fed += chunk.size();
    Bytes expected;
    bool close = false;
    for (; next_event < model.events.size() && model.events[next_event].at < fed; ++next_event) {
      const Event& event = model.events[next_event];
      expected.insert(expected.end(), event.reply.begin(), event.reply.end());
      if (event.request) {
        ++requests;
        last_request_end = event.at + 1;
      }
      close = close || event.close;
    }

    Bytes out = earlier;
    const cs::Verdict verdict = session.on_receive(chunk, out);

    // Built only when a check fails: formatting on every chunk would cost
    // more than the session itself and slow the fuzzer down tenfold.
    const auto where = [&] {
      return "after chunk " + std::to_string(index + 1) + " of " + std::to_string(chunks.size()) +
             " (" + std::to_string(chunk.size()) + " bytes: " + hex(chunk, 16) +
             "), stream bytes 0.." + std::to_string(fed) + " fed:\n  ";
    };
    if (out.size() < earlier.size() || !std::equal(earlier.begin(), earlier.end(), out.begin())) {
      fail(harness, where() + "on_receive changed bytes already in `out` (it may only append)");
    }
    const Bytes appended(out.begin() + static_cast<std::ptrdiff_t>(earlier.size()), out.end());
    if (appended != expected) {
      fail(harness, where() + "session appended " + hex(appended) + "\n  model expects  " +
                        hex(expected));
    }
    if (verdict.close != close) {
      fail(harness, where() + (close ? "the model closes here, the session keeps it open"
                                     : "the session closes (\"" + verdict.reason +
                                           "\"), the model keeps it open"));
    }
    if (verdict.close == verdict.reason.empty()) {
      fail(harness, where() + "a close verdict needs a reason, and only a close verdict has one");
    }
    if (session.requests() != requests) {
      fail(harness, where() + "requests() is " + std::to_string(session.requests()) +
                        ", the model counts " + std::to_string(requests));
    }
    if (close) return;  // a server sends `out`, then closes: nothing more is read

    // After a close the connection is over and request_pending() means
    // nothing, so it is checked only while the connection stays open.
    const bool pending = fed > last_request_end;
    if (session.request_pending() != pending) {
      fail(harness, where() + "request_pending() is " +
                        (session.request_pending() ? "true" : "false") + ", the model says " +
                        (pending ? "true" : "false"));
    }
  }
}

}  // namespace fuzz
