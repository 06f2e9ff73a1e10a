// The buffer pool without sockets: reuse, the pool limit, reference
// counting, and splitting a read that holds a message plus part of the next.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cpf/buffer.hpp"

namespace {

cpf::ByteView bytes(std::string_view text) {
  return {reinterpret_cast<const cpf::Byte*>(text.data()), text.size()};
}
std::string text(const cpf::Buffer& buffer) {
  return {reinterpret_cast<const char*>(buffer.data()), buffer.size()};
}

TEST(BufferAllocator, ReleasedBuffersAreReusedNotReallocated) {
  cpf::BufferAllocator allocator(64, 4);
  cpf::Buffer* first = nullptr;
  {
    cpf::BufferPtr buffer = allocator.allocate();
    first = buffer.get();
    EXPECT_EQ(allocator.in_use(), 1u);
    EXPECT_EQ(allocator.created(), 1u);
  }
  EXPECT_EQ(allocator.in_use(), 0u);
  EXPECT_EQ(allocator.pooled(), 1u);

  cpf::BufferPtr again = allocator.allocate();
  EXPECT_EQ(again.get(), first) << "the pooled buffer comes back";
  EXPECT_EQ(allocator.reused(), 1u);
  EXPECT_EQ(allocator.created(), 1u);
  EXPECT_EQ(allocator.pooled(), 0u);
  EXPECT_TRUE(again->empty()) << "a reused buffer starts empty";
  EXPECT_EQ(again->capacity(), 64u);
}

TEST(BufferAllocator, KeepsNoMoreThanMaxPooled) {
  cpf::BufferAllocator allocator(16, 2);
  {
    std::vector<cpf::BufferPtr> buffers;
    for (int i = 0; i < 5; ++i) buffers.push_back(allocator.allocate());
    EXPECT_EQ(allocator.in_use(), 5u);
    EXPECT_EQ(allocator.created(), 5u);
  }
  EXPECT_EQ(allocator.in_use(), 0u);
  EXPECT_EQ(allocator.pooled(), 2u) << "three of the five went back to the heap";

  std::vector<cpf::BufferPtr> buffers;
  for (int i = 0; i < 3; ++i) buffers.push_back(allocator.allocate());
  EXPECT_EQ(allocator.reused(), 2u);
  EXPECT_EQ(allocator.created(), 6u);
}

TEST(BufferAllocator, ZeroPoolFreesEveryBuffer) {
  cpf::BufferAllocator allocator(16, 0);
  { auto buffer = allocator.allocate(); }
  EXPECT_EQ(allocator.pooled(), 0u);
  { auto buffer = allocator.allocate(); }
  EXPECT_EQ(allocator.created(), 2u);
  EXPECT_EQ(allocator.reused(), 0u);
}

TEST(BufferAllocator, ThreadsAllocatingAndReleasingKeepTheCountsExact) {
  cpf::BufferAllocator allocator(32, 8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        cpf::BufferPtr buffer = allocator.allocate();
        buffer->append(bytes("x"));
        cpf::BufferPtr copy = buffer;  // a second owner, released on another line
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allocator.in_use(), 0u);
  EXPECT_LE(allocator.pooled(), 8u);
  EXPECT_EQ(allocator.reused() + allocator.created(), 8000u);
}

TEST(Buffer, TheLastOwnerReturnsItToThePool) {
  cpf::BufferAllocator allocator(16, 4);
  cpf::BufferPtr a = allocator.allocate();
  cpf::BufferPtr b = a;
  EXPECT_EQ(a->use_count(), 2u);
  a.reset();
  EXPECT_EQ(allocator.in_use(), 1u) << "b still owns it";
  EXPECT_EQ(b->use_count(), 1u);
  cpf::BufferPtr c = std::move(b);
  EXPECT_FALSE(b);
  EXPECT_EQ(c->use_count(), 1u);
  c.reset();
  EXPECT_EQ(allocator.in_use(), 0u);
  EXPECT_EQ(allocator.pooled(), 1u);
}

TEST(Buffer, AppendStopsAtCapacityAndCommitExtendsThePayload) {
  cpf::BufferAllocator allocator(8, 1);
  cpf::BufferPtr buffer = allocator.allocate();
  EXPECT_EQ(buffer->append(bytes("hello world")), 8u);
  EXPECT_EQ(text(*buffer), "hello wo");
  EXPECT_TRUE(buffer->space().empty());
  EXPECT_THROW(buffer->commit(1), std::length_error);

  buffer->consume(6);
  EXPECT_EQ(text(*buffer), "wo");
  auto room = buffer->space();  // compacts: the payload moves to the front
  ASSERT_EQ(room.size(), 6u);
  room[0] = 'r';
  room[1] = 'l';
  buffer->commit(2);
  EXPECT_EQ(text(*buffer), "worl");
}

TEST(Buffer, SplitSendsOneMessageOnAndKeepsThePartOfTheNext) {
  cpf::BufferAllocator allocator(16, 4);
  cpf::BufferPtr read = allocator.allocate();
  read->append(bytes("\x05" "abcd" "\x04" "xy"));  // one 5-byte packet, then 3 of a 4-byte one

  cpf::BufferPtr message = read->split(5);
  EXPECT_EQ(text(*message), "\x05" "abcd");
  EXPECT_EQ(text(*read), "\x04" "xy");
  EXPECT_NE(message.get(), read.get());
  EXPECT_EQ(&message->allocator(), &allocator);
  EXPECT_EQ(allocator.in_use(), 2u);

  // The halves are independent: the rest grows by the next read's bytes
  // while the message is (say) being sent.
  read->append(bytes("z"));
  EXPECT_EQ(text(*read), "\x04" "xyz");
  EXPECT_EQ(text(*message), "\x05" "abcd");

  EXPECT_THROW(read->split(0), std::length_error);
  EXPECT_THROW(read->split(5), std::length_error);
  message.reset();
  read.reset();
  EXPECT_EQ(allocator.in_use(), 0u);
}

}  // namespace
