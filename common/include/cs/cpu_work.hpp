// CPU-heavy requests on demand: --work-us N (docs/conventions.md) makes a
// server compute for N microseconds of its own CPU time on every message
// before it replies. The protocols' work (adding one to each byte) costs
// next to nothing, so without this every design looks equally fast at
// serving a message; with it, a design that runs every session on one
// thread (an event loop) visibly serves messages one after another, while
// designs that spread sessions over threads run them side by side, as far
// as there are cores.
#pragma once

#include <chrono>

namespace cs {

// Computes (never sleeps) until the calling thread has used at least `work`
// of CPU time since the call began; returns at once for zero or less.
//
// CPU time, not wall time: when more threads compute than there are cores,
// each one is preempted and takes longer on the wall clock, which is exactly
// what a CPU-bound server does. The clock is the thread's own CPU clock:
// clock_gettime(CLOCK_THREAD_CPUTIME_ID) on POSIX, GetThreadTimes() on
// Windows, whose values advance only at the scheduler's tick (about 15.6 ms
// by default), so there a call may spend up to one tick more or less than
// asked. If the thread's CPU clock cannot be read, the wall clock
// (steady_clock) is used instead, which counts time the thread spent
// preempted as work.
void spend_cpu(std::chrono::microseconds work);

// The calling thread's CPU time so far, by the clock spend_cpu() uses (the
// steady clock's time when the thread's CPU clock cannot be read). Exposed
// so tests can check that spend_cpu() spent what it was asked to.
std::chrono::nanoseconds thread_cpu_time();

}  // namespace cs
