// One connection's writes on their way to the kernel, and the output limit
// that holds its reads back; shared by both backends.
//
// The server issues writes faster than a slow client reads them: an echo
// server answers every read with a write, so a client that sends without
// ever reading would make the server queue everything it sent. The rule
// (ServerOptions::output_limit) is the one epoll-server applies with
// --output-limit: while more than `limit` bytes wait here unsent, no read
// of this connection goes to the kernel. The client's bytes then wait in
// the kernel's buffers, TCP's flow control stops the client, and the
// connection holds at most the limit plus the replies to one read. Reads
// resume as soon as the kernel has taken enough to bring the queue back to
// the limit.
//
// Not thread-safe: the backend calls every method with the connection's
// mutex held. The server-wide totals it updates are atomics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>

#include "cpf/buffer.hpp"

namespace cpf::detail {

// Server-wide sums over every connection's OutputQueue, for Counters.
struct OutputTotals {
  std::atomic<std::size_t> queued{0};   // bytes issued with write() and not yet sent
  std::atomic<std::uint64_t> pauses{0};  // times a connection's reads were held back
};

class OutputQueue {
 public:
  struct Item {
    BufferPtr buffer;  // empty for the shutdown marker
    std::size_t sent = 0;
    bool shutdown_marker = false;
  };

  OutputQueue(OutputTotals& totals, std::size_t limit) : totals_(totals), limit_(limit) {}
  ~OutputQueue() { clear(); }  // keeps the server-wide total right
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  void push(BufferPtr buffer) {
    add(buffer->size());
    items_.push_back({std::move(buffer)});
  }
  // The FIN goes when every write queued before it was sent.
  void push_shutdown() { items_.push_back({BufferPtr{}, 0, true}); }

  bool empty() const { return items_.empty(); }
  Item& front() { return items_.front(); }

  // `n` more bytes of the front item were sent. Returns its buffer once
  // the whole of it has been (and drops the item), else an empty BufferPtr.
  BufferPtr sent(std::size_t n) {
    Item& item = items_.front();
    item.sent += n;
    remove(n);
    if (item.sent < item.buffer->size()) return {};
    BufferPtr done = std::move(item.buffer);
    items_.pop_front();
    return done;
  }
  // Drops the front item unsent (the shutdown marker, an empty buffer).
  BufferPtr pop_front() {
    Item& item = items_.front();
    if (item.buffer) remove(item.buffer->size() - item.sent);
    BufferPtr buffer = std::move(item.buffer);
    items_.pop_front();
    return buffer;
  }
  // Drops everything (an abort). A send in flight keeps its own reference.
  void clear() {
    remove(unsent_);
    items_.clear();
  }

  std::size_t unsent() const { return unsent_; }

  // Whether a read may go to the kernel now (the output limit's rule; a
  // limit of 0 means none). Counts each change from allowed to held back.
  bool reads_allowed() {
    const bool allowed = limit_ == 0 || unsent_ <= limit_;
    if (!allowed && !holding_reads_) totals_.pauses.fetch_add(1, std::memory_order_relaxed);
    holding_reads_ = !allowed;
    return allowed;
  }

 private:
  // Zero changes leave the totals alone: a closed connection's empty queue
  // may be destroyed after its server (a ConnectionPtr kept by the server's
  // code), when the totals are gone.
  void add(std::size_t n) {
    if (n == 0) return;
    unsent_ += n;
    totals_.queued.fetch_add(n, std::memory_order_relaxed);
  }
  void remove(std::size_t n) {
    if (n == 0) return;
    unsent_ -= n;
    totals_.queued.fetch_sub(n, std::memory_order_relaxed);
  }

  OutputTotals& totals_;
  const std::size_t limit_;
  // The front is the one in the kernel, while a send is in flight. A list,
  // not a deque: an empty std::deque still holds a 512-byte block, and most
  // connections' queues are empty most of the time (an idle one's always).
  std::list<Item> items_;
  std::size_t unsent_ = 0;
  bool holding_reads_ = false;
};

}  // namespace cpf::detail
