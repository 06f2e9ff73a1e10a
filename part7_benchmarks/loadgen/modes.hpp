// The four modes of the load generator. Each runs to completion (or until
// `stop` is requested: SIGINT/SIGTERM end a run early and it still reports)
// and returns the JSON object it measured, as one line of text.
// Each throws cs::SetupError when the run cannot start (bad address).
#pragma once

#include <string>

#include "cs/stop.hpp"
#include "options.hpp"

namespace loadgen {

std::string run_pingpong(const LoadOptions& options, const cs::StopSignal& stop);
std::string run_burst(const LoadOptions& options, const cs::StopSignal& stop);
std::string run_chat(const LoadOptions& options, const cs::StopSignal& stop);
std::string run_idle(const LoadOptions& options, const cs::StopSignal& stop);

}  // namespace loadgen
