// What happened on a connection, on its way from the backend's completion
// handling to the server's notification (through the Sequencer).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <utility>
#include <vector>

#include "cpf/buffer.hpp"

namespace cpf::detail {

struct Event {
  enum class Kind {
    established,    // on_connection_established
    read,           // on_read_completed(buffer)
    write,          // on_write_completed(buffer)
    client_closed,  // on_client_closed
    reset,          // on_connection_reset
    error,          // on_connection_error(error)
    idle,           // on_idle_timeout
    deadline,       // on_deadline
    closing,        // on_connection_closing
    closed,         // on_connection_closed (always the last)
  };
  Kind kind = Kind::closed;
  BufferPtr buffer;
  std::error_code error;
};

// The events one call records under a connection's lock, each with its
// Sequencer ticket, to be delivered once the lock is released. Rarely more
// than two (a read; a reset and the close), so the first few are kept in
// the object itself and only a longer run (a server that queued many empty
// writes) reaches the heap, where a std::vector would allocate at every
// completion. Every ticket taken must be offered: a ticket never offered
// would hold back every later event of its connection.
class RecordedEvents {
 public:
  void emplace_back(std::uint64_t ticket, Event event) {
    if (size_ < inline_.size()) {
      inline_[size_] = {ticket, std::move(event)};
    } else {
      overflow_.emplace_back(ticket, std::move(event));
    }
    ++size_;
  }

  // Hands each event, in the order recorded, to take(ticket, Event&&), and
  // empties the record.
  template <typename Take>
  void drain(Take&& take) {
    for (std::size_t i = 0; i < size_; ++i) {
      auto& [ticket, event] = i < inline_.size() ? inline_[i] : overflow_[i - inline_.size()];
      take(ticket, std::move(event));
    }
    overflow_.clear();
    size_ = 0;
  }

 private:
  std::array<std::pair<std::uint64_t, Event>, 3> inline_{};
  std::vector<std::pair<std::uint64_t, Event>> overflow_;
  std::size_t size_ = 0;
};

}  // namespace cpf::detail
