// The packet protocol of part 4 (docs/part4_iocp.md, "The sample servers"):
// byte 0 of a packet holds the length n of the WHOLE packet, that byte
// included, 2 <= n <= 255; the server echoes every packet unchanged, in
// order, as soon as it is complete. A header byte of 0 or 1 is a protocol
// error: the replies to earlier packets still go out, then the connection
// closes. At EOF an incomplete packet is dropped.
//
// Two classes, both sans-I/O:
// - PacketFramer only finds packet boundaries and copies nothing. The packet
//   echo server uses it to send the received buffer itself (a slice of it)
//   instead of a copy: echoing needs no reassembly, only knowing how far the
//   stream may be released.
// - PacketSession is the same protocol behind the cs::Session interface
//   (copying, like every other session), for servers and tests that drive
//   any session the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cs/session.hpp"

namespace part4 {

// A packet's length byte counts itself, so the shortest packet is the header
// and one byte of payload, and the longest is what one byte can say.
inline constexpr std::size_t smallest_packet = 2;
inline constexpr std::size_t largest_packet = 255;

// Finds where packets end in a stream fed in chunks of any size.
//
//   PacketFramer framer;
//   auto cut = framer.advance(chunk);
//   send (bytes held from earlier chunks) + chunk[0, cut.complete)
//   hold chunk[cut.complete, end)   -- the start of a packet still incomplete
//   if (cut.error) close after sending;
//
// Not thread-safe: one connection, one caller at a time.
class PacketFramer {
 public:
  struct Cut {
    // Length of the prefix of the chunk that ends with the last packet
    // completed in it; 0 when no packet completed. Everything before it
    // (including bytes held from earlier chunks) is whole packets.
    std::size_t complete = 0;
    // Packets completed in this chunk (one may have begun in an earlier one).
    std::uint64_t packets = 0;
    // Set when a packet header was 0 or 1, found at offset `complete`: the
    // stream is unusable from there on and the connection must close after
    // the bytes before `complete` are sent.
    std::optional<std::string> error;
  };

  // Advances over the next chunk of the stream. After an error every later
  // call returns the same error and completes nothing.
  Cut advance(cs::ByteView chunk);

  // Bytes of the packet in progress received so far (0 between packets):
  // what a caller is holding, and what is dropped if EOF comes now.
  std::size_t partial() const { return received_; }

  bool failed() const { return error_.has_value(); }

 private:
  std::size_t packet_length_ = 0;  // length of the packet in progress; 0 = next byte is a header
  std::size_t received_ = 0;       // bytes of it seen so far
  std::optional<std::string> error_;
};

class PacketSession final : public cs::Session {
 public:
  void greet(cs::Bytes& out) override;  // the packet protocol has no greeting

  // Appends every packet completed by `in` (its bytes held from earlier
  // chunks first), holding back an incomplete packet's bytes; closes on a
  // bad header after appending the packets before it.
  cs::Verdict on_receive(cs::ByteView in, cs::Bytes& out) override;

  std::uint64_t requests() const override { return packets_; }
  bool request_pending() const override { return framer_.partial() > 0; }

  // Bytes of an incomplete packet held back (dropped if EOF comes now).
  std::size_t partial() const { return framer_.partial(); }

 private:
  PacketFramer framer_;
  cs::Bytes held_;  // the packet in progress, at most largest_packet - 1 bytes
  std::uint64_t packets_ = 0;
};

}  // namespace part4
