// Exercise part4-2: the line protocol, to which REVERSE is to be added;
// see line_session.hpp.
#include "line_session.hpp"

#include <algorithm>
#include <stdexcept>

namespace exercises {

namespace {

constexpr std::string_view greeting = "+OK ready\r\n";
constexpr std::string_view line_end = "\r\n";

// ASCII-only case folding: the command words are ASCII, and std::tolower
// depends on the locale.
bool equals_ignoring_case(std::string_view text, std::string_view upper_word) {
  return text.size() == upper_word.size() &&
         std::equal(text.begin(), text.end(), upper_word.begin(), [](char a, char b) {
           return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
         });
}

void append(cs::Bytes& out, std::string_view text) {
  const cs::ByteView bytes = cs::as_bytes(text);
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void reply(cs::Bytes& out, std::string_view status, std::string_view rest = {}) {
  out.reserve(out.size() + status.size() + rest.size() + line_end.size());
  append(out, status);
  append(out, rest);
  append(out, line_end);
}

}  // namespace

LineSession::LineSession(std::size_t max_line) : max_line_(max_line) {
  if (max_line < smallest_max_line || max_line > largest_max_line) {
    throw std::invalid_argument("max_line " + std::to_string(max_line) + " is outside " +
                                std::to_string(smallest_max_line) + ".." +
                                std::to_string(largest_max_line));
  }
}

void LineSession::greet(cs::Bytes& out) { append(out, greeting); }

bool LineSession::too_long(std::size_t length, cs::Byte last) const {
  // A trailing CR may be the one stripped before an LF still to come, so it
  // does not count yet; any other byte does.
  const std::size_t counted = last == '\r' ? length - 1 : length;
  return counted > max_line_;
}

cs::Verdict LineSession::on_receive(cs::ByteView in, cs::Bytes& out) {
  if (closed_) return cs::Verdict::close_because(close_reason_);
  std::string_view rest(reinterpret_cast<const char*>(in.data()), in.size());
  while (!rest.empty()) {
    const std::size_t lf = rest.find('\n');
    const bool ended = lf != std::string_view::npos;
    const std::string_view piece = rest.substr(0, ended ? lf : rest.size());
    rest.remove_prefix(ended ? lf + 1 : rest.size());

    // Checked before anything is buffered, so pending_ never outgrows a line.
    const std::size_t length = pending_.size() + piece.size();
    const cs::Byte last = static_cast<cs::Byte>(
        !piece.empty() ? piece.back() : (!pending_.empty() ? pending_.back() : '\0'));
    if (length > 0 && too_long(length, last)) {
      reply(out, "-ERR line too long");
      ++lines_;
      pending_.clear();
      return finish("line longer than " + std::to_string(max_line_) + " bytes (--max-line)");
    }
    if (!ended) {
      pending_.append(piece);  // the start of a line; its LF is in a later chunk
      break;
    }
    // A line inside the chunk is answered from the chunk itself, no copy;
    // one begun in an earlier chunk is completed in pending_.
    std::string_view line = piece;
    if (!pending_.empty()) {
      pending_.append(piece);
      line = pending_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool keep_open = answer(line, out);
    pending_.clear();
    if (!keep_open) return finish("client sent QUIT");
  }
  return cs::Verdict::keep_open();
}

cs::Verdict LineSession::finish(std::string reason) {
  closed_ = true;
  close_reason_ = std::move(reason);
  return cs::Verdict::close_because(close_reason_);
}

bool LineSession::answer(std::string_view line, cs::Bytes& out) {
  ++lines_;
  const std::string_view word = line.substr(0, line.find(' '));
  if (equals_ignoring_case(word, "ECHO")) {
    reply(out, "+OK", line.substr(word.size()));  // the space and text, verbatim
  } else if (equals_ignoring_case(word, "NOOP")) {
    reply(out, "+OK");
  } else if (equals_ignoring_case(word, "QUIT")) {
    reply(out, "+OK bye");
    quit_ = true;
    return false;
  } else {
    // EXERCISE(part4-2): REVERSE is answered as unknown here. Add a branch
    // above this one, modelled on ECHO's.
    reply(out, "-ERR unknown command");
  }
  return true;
}

}  // namespace exercises
