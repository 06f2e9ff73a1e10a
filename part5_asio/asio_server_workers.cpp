// Asio server with a worker pool - asio-server's event loop for the I/O, and
// a second pool (asio::thread_pool, --workers N) for the CPU work of requests.
//
// The one idea, against asio_server.cpp: a handler that computes holds its
// I/O thread, and every session waiting on that thread waits with it. Here
// the I/O threads only read, write and time out (callback_session.hpp, the
// same chain as asio-server's); each chunk read goes to the worker pool,
// which computes the replies (--work-us per request) and posts them back to
// the session's strand, where they are queued and written as before. A
// session hands the pool one chunk at a time and reads the next only once
// its replies are queued: they stay in order, and
// what a session holds stays bounded (one chunk at the pool, replies up
// to the output limit), however many requests its client sends.
//
// `diff asio_server.cpp asio_server_workers.cpp` is that idea and nothing
// else; docs/part5_asio.md prints it, and ctest docs.code fails when the
// files no longer diff to it.
//
// Run:  asio-server-workers 9090 --threads 1 --workers 2 --work-us 50000
#include <CLI/CLI.hpp>

#include "asio_headers.hpp"
#include "callback_session.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"

#include <pthread.h>

#include <exception>
#include <latch>
#include <memory>
#include <string>
#include <utility>

#include "cs/bytes.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"

namespace {

// The worker pool, where requests are computed: created in main() before the
// server starts, joined after it has stopped.
asio::thread_pool* workers = nullptr;

class Session final : public part5::CallbackSession {
 public:
  using CallbackSession::CallbackSession;

 private:
  // The reply is computed on the worker pool; the next read starts when it
  // is back on the strand and queued. The chunk stays in the session's read
  // buffer meanwhile, since no read starts before then.
  void serve_chunk(cs::ByteView chunk) override {
    auto reply = std::make_shared<cs::Bytes>();
    const Clock::time_point arrived = deadlines_.last_activity();
    compute([chunk, reply](Session& s) { return s.answer(chunk, *reply); },
            [reply, arrived](Session& s, const cs::Verdict& verdict) {
              // The request clock starts when the chunk arrived, not when a
              // write that ended during the work was last activity.
              s.deadlines_.after_receive(*s.protocol_, arrived);
              s.queue_reply(std::move(*reply));
              if (verdict.close) return s.finish(verdict.reason);
              s.read_next();
            });
  }

  template <typename Work, typename Then>
  void compute(Work work, Then then);  // `work` on the pool, `then` back on the strand
};

// Runs `work(session)` (which returns a cs::Verdict) on the worker pool, then
// `then(session, verdict)` on this session's strand. Meanwhile the session
// reads nothing: what `work` uses (protocol_, the chunk in the read buffer)
// is the pool's alone, no second request of this session can overtake the
// first, and the pool's queue holds at most one chunk per session (memory
// stays bounded by the sessions, not by what their clients send). Only the strand's handler holds
// the session, so it is never destroyed on a worker thread. The work guard
// keeps the io_context running until the result is back on the strand, so
// shutdown waits for work in flight; if the session was closed meanwhile
// (grace period over, a timeout), the result is dropped, and the client has
// seen whole replies and then the end of the stream.
//
// The guard is on the io_context's own executor, not on the strand, and the
// task's copy of the strand is gone before the guard is: the last copy of a
// strand unlinks it from the io_context's strand service, and if a worker
// dropped that copy after releasing the work, run() could return and the
// io_context be destroyed in between (a use of a destroyed mutex, caught by
// ThreadSanitizer).
template <typename Work, typename Then>
void Session::compute(Work work, Then then) {
  asio::post(*workers, [self = std::static_pointer_cast<Session>(shared()),
                        work = std::move(work), then = std::move(then),
                        guard = asio::make_work_guard(
                            socket_.get_executor().get_inner_executor())]() mutable {
    cs::Verdict verdict;
    try {
      verdict = work(*self);
    } catch (const std::exception& error) {  // whatever the work throws: this session's error
      verdict = cs::Verdict::close_because(std::string("request failed: ") + error.what());
    }
    {
      const part5::SessionExecutor strand = self->socket_.get_executor();
      asio::post(strand, [self = std::move(self), then = std::move(then), verdict] {
        if (!self->closed_) then(*self, verdict);
      });
    }  // the strand copy released here, under the guard
  });
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line(
      "asio-server-workers",
      "Boost.Asio server: I/O on one io_context's threads, request work on a worker pool");
  command_line.add_threads_option(cs::usable_cpus());
  unsigned worker_count = cs::usable_cpus();
  command_line.app()
      .add_option("--workers", worker_count, "Threads that compute the requests (--work-us)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  const cs::ServerOptions options = command_line.parse(argc, argv);
  asio::thread_pool pool(worker_count);
  // Named "worker" (in /proc/PID/task/*/comm, top -H, gdb), the I/O threads
  // keep the program's name. Each task waits until all have started, so each
  // runs on a thread of its own and every thread gets the name.
  std::latch named(static_cast<std::ptrdiff_t>(worker_count));
  for (unsigned i = 0; i < worker_count; ++i) {
    asio::post(pool, [&named] {
      pthread_setname_np(pthread_self(), "worker");
      named.arrive_and_wait();
    });
  }
  named.wait();
  workers = &pool;
  const int status =
      cs::run_guarded("asio-server-workers", [&] { part5::run_server<Session>(options); });
  pool.join();
  return status;
}
