// Fuzzes part4::LineSession (part4_iocp/servers/line_session.hpp) against a
// model of the line protocol, with a --max-line limit chosen by the input
// (16..63, or the default 512). See harness.hpp.
#include <string>
#include <string_view>

#include "harness.hpp"
#include "line_session.hpp"

namespace {

std::string upper_ascii(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return upper;
}

fuzz::Bytes text(std::string_view line) { return fuzz::Bytes(line.begin(), line.end()); }

// The command word of a line, upper-cased: the text before the first space.
std::string command(std::string_view line) { return upper_ascii(line.substr(0, line.find(' '))); }

// The reply to one line, its line ending already removed.
std::string answer(std::string_view line) {
  const std::string word = command(line);
  if (word == "ECHO") return "+OK" + std::string(line.substr(4)) + "\r\n";
  if (word == "NOOP") return "+OK\r\n";
  if (word == "QUIT") return "+OK bye\r\n";
  return "-ERR unknown command\r\n";
}

// The line protocol (docs/protocol.md), reading the stream from the front.
// A line ends at LF, and one CR before the LF is not part of it. Each line
// is answered when its LF arrives; QUIT closes after its reply. A line is
// too long at the first byte that proves it: more than max_line bytes of
// it without an LF, not counting a last byte that is a CR (it may be the
// CR of a CRLF). Then the reply is -ERR line too long, the line counts as
// a request, and the connection closes.
fuzz::Model line_model(fuzz::ByteView stream, std::size_t max_line) {
  fuzz::Model model;
  model.greeting = text("+OK ready\r\n");
  std::size_t start = 0;  // where the current line began
  for (std::size_t at = 0; at < stream.size(); ++at) {
    if (stream[at] == '\n') {
      std::string line(stream.begin() + static_cast<std::ptrdiff_t>(start),
                       stream.begin() + static_cast<std::ptrdiff_t>(at));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const std::string reply = answer(line);
      // By the command, not by the reply: "ECHO bye" is answered "+OK bye"
      // as QUIT is, and keeps the connection open.
      const bool quit = command(line) == "QUIT";
      model.events.push_back({at, text(reply), /*request=*/true, /*close=*/quit});
      if (quit) break;
      start = at + 1;
      continue;
    }
    const std::size_t counted = at - start + 1 - (stream[at] == '\r' ? 1 : 0);
    if (counted > max_line) {
      model.events.push_back({at, text("-ERR line too long\r\n"), true, /*close=*/true});
      break;
    }
  }
  return model;
}

std::size_t line_limit(fuzz::Byte limit) {
  if (limit == 0xFF) return part4::default_max_line;
  return part4::smallest_max_line + limit % 48;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input input = fuzz::parse_input(data, size);
  const std::size_t max_line = line_limit(input.limit);
  part4::LineSession session(max_line);
  fuzz::drive("line", session, line_model(input.stream, max_line),
              fuzz::split(input.stream, input.chunk_sizes));
  return 0;
}
