// part5::ReadBuffer (server_setup.hpp): the session's read buffer, whose
// size follows what the reads bring. A session idle after small requests
// must hold 1 KiB, not the 64 KiB a large upload uses, and a large upload
// must not move 1 KiB per recv.
#include <gtest/gtest.h>

#include <cstddef>

#include "asio_headers.hpp"
#include "server_setup.hpp"

namespace {

using part5::first_read_size;
using part5::last_read_size;
using part5::ReadBuffer;

// One read into the buffer that brings `bytes` (at most its size); returns
// the size the read was offered.
std::size_t read(ReadBuffer& buffer, std::size_t bytes) {
  const asio::mutable_buffer offered = buffer.next();
  const std::size_t brought = bytes < offered.size() ? bytes : offered.size();
  const cs::ByteView view = buffer.received(brought);
  EXPECT_EQ(view.data(), offered.data()) << "the bytes are where the read put them";
  EXPECT_EQ(view.size(), brought);
  return offered.size();
}

TEST(ReadBuffer, StartsSmallAndStaysSmallForSmallRequests) {
  ReadBuffer buffer;
  EXPECT_EQ(buffer.capacity(), first_read_size) << "what a session holds before its first byte";
  for (int i = 0; i < 100; ++i) EXPECT_EQ(read(buffer, 16), first_read_size);
  EXPECT_EQ(buffer.capacity(), first_read_size);
}

TEST(ReadBuffer, DoublesAfterEachReadThatFillsItUpToTheLargest) {
  ReadBuffer buffer;
  std::size_t expected = first_read_size;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(read(buffer, last_read_size), expected) << "read " << i;
    expected = expected * 2 < last_read_size ? expected * 2 : last_read_size;
  }
  EXPECT_EQ(read(buffer, last_read_size), last_read_size) << "never past the largest";
}

TEST(ReadBuffer, KeepsItsSizeWhileReadsBringMoreThanTheSmallest) {
  ReadBuffer buffer;
  while (read(buffer, last_read_size) < last_read_size) {
  }
  // The tail of an upload: less than fills it, more than a small request.
  EXPECT_EQ(read(buffer, 5000), last_read_size);
  EXPECT_EQ(read(buffer, first_read_size + 1), last_read_size);
  EXPECT_EQ(read(buffer, 16), last_read_size) << "sized by the read before";
}

TEST(ReadBuffer, ASmallReadBringsItBackAndFreesTheRest) {
  ReadBuffer buffer;
  while (read(buffer, last_read_size) < last_read_size) {
  }
  read(buffer, 16);
  EXPECT_EQ(read(buffer, 16), first_read_size);
  EXPECT_EQ(buffer.capacity(), first_read_size) << "an idle session after an upload holds 1 KiB again";
}

TEST(ReadBuffer, AnEmptyReadShrinksItToo) {
  ReadBuffer buffer;
  read(buffer, first_read_size);
  read(buffer, 0);
  EXPECT_EQ(read(buffer, 16), first_read_size);
}

}  // namespace
