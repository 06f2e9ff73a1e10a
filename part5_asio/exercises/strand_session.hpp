// Exercise part5-4: a strand per session (docs/part5_asio.md, "Exercises").
//
// EchoSession serves one client on an io_context that several threads run.
// Two chains of handlers share its state: a read chain (read some bytes,
// write them back, read again) and a timer chain (every `tick`, count one
// tick). With several threads, the completion handlers of one session run
// on whichever thread is free, two at once unless something serialises
// them: that is a strand, an executor that runs the handlers given to it
// one after another. Every handler of the session must go through the
// session's strand_.
//
// The state here is atomic, so a missing strand is not a data race in the
// C++ sense (ThreadSanitizer stays quiet); it is caught by the scaffolding
// below instead: every handler runs inside a HandlerScope, which notes when
// a handler of this session begins while another is still running
// (overlaps()) and then works for a while, as real handlers do, so that
// such overlaps happen when nothing prevents them. The scaffolding is not
// part of the exercise.
#pragma once

#include "asio_headers.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

namespace part5ex {

class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  EchoSession(asio::io_context& io, tcp::socket socket, std::chrono::microseconds tick)
      : strand_(asio::make_strand(io)), socket_(std::move(socket)), timer_(io), tick_(tick) {}

  // Starts both chains. Call once, from any thread.
  void start();
  // Ends both chains at their next handler (the timer's next tick, the
  // read's next completion: close the client to end it at once); the socket
  // closes when the last handler has run. Thread-safe: it touches no I/O
  // object, only the atomic flag every handler reads.
  void stop() { stopped_ = true; }

  // Handlers of this session that began while another of them was running.
  std::size_t overlaps() const { return overlaps_.load(); }
  std::size_t handlers() const { return handlers_.load(); }
  std::size_t ticks() const { return ticks_.load(); }

 private:
  void read_some();
  void write_back(std::size_t bytes);
  void wait_tick();

  // Scaffolding: wraps the body of every handler.
  class HandlerScope {
   public:
    explicit HandlerScope(EchoSession& session) : session_(session) {
      if (session_.running_.fetch_add(1) > 0) ++session_.overlaps_;
      ++session_.handlers_;
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    ~HandlerScope() { session_.running_.fetch_sub(1); }
    HandlerScope(const HandlerScope&) = delete;
    HandlerScope& operator=(const HandlerScope&) = delete;

   private:
    EchoSession& session_;
  };

  asio::strand<asio::io_context::executor_type> strand_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::chrono::microseconds tick_;
  std::array<char, 4096> buffer_{};
  std::atomic<bool> stopped_{false};
  std::atomic<int> running_{0};
  std::atomic<std::size_t> overlaps_{0};
  std::atomic<std::size_t> handlers_{0};
  std::atomic<std::size_t> ticks_{0};
};

}  // namespace part5ex
