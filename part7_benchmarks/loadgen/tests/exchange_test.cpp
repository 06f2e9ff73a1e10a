// The bytes the generator sends and expects, checked against the protocol
// core the servers run (cs::Session): whatever a correct server answers to
// our request is exactly our expected reply.
#include <gtest/gtest.h>

#include "cs/session.hpp"
#include "net.hpp"

namespace {

cs::Bytes server_reply(cs::Protocol protocol, const cs::Bytes& request, bool with_greeting) {
  auto session = cs::make_session(protocol, cs::SessionLimits{1u << 20});
  cs::Bytes out;
  session->greet(out);
  if (!with_greeting) out.clear();
  session->on_receive(request, out);
  return out;
}

TEST(Exchange, ShiftRequestIsAnsweredByTheExpectedReply) {
  for (const std::uint32_t size : {1u, 2u, 25u, 26u, 1000u}) {
    const auto exchange = loadgen::make_exchange(cs::Protocol::shift, size);
    EXPECT_EQ(exchange.request.size(), size + 2);
    EXPECT_EQ(exchange.header_bytes, 1u);
    EXPECT_EQ(server_reply(cs::Protocol::shift, exchange.request, false), exchange.reply);
    // The payload never holds the markers, or the server would cut it short.
    for (std::size_t i = 1; i + 1 < exchange.request.size(); ++i) {
      ASSERT_NE(exchange.request[i], '^');
      ASSERT_NE(exchange.request[i], '$');
    }
  }
}

TEST(Exchange, ShiftServerGreetsFirst) {
  const auto exchange = loadgen::make_exchange(cs::Protocol::shift, 4);
  const auto with_greeting = server_reply(cs::Protocol::shift, exchange.request, true);
  ASSERT_FALSE(with_greeting.empty());
  EXPECT_EQ(with_greeting.front(), loadgen::shift_greeting);
}

TEST(Exchange, FramedRequestIsAnsweredByTheExpectedReply) {
  for (const std::uint32_t size : {0u, 1u, 100u, 70000u}) {
    const auto exchange = loadgen::make_exchange(cs::Protocol::framed, size);
    EXPECT_EQ(exchange.request.size(), size + 4);
    EXPECT_EQ(exchange.header_bytes, 4u);
    EXPECT_EQ(server_reply(cs::Protocol::framed, exchange.request, true), exchange.reply);
  }
}

TEST(JsonLine, EscapesAndFormats) {
  loadgen::JsonLine json;
  json.add("s", std::string("a\"b\\c\n")).add("n", std::uint64_t{5}).add("b", true).add("x", 0.5);
  EXPECT_EQ(json.str(), R"({"s": "a\"b\\c\u000a", "n": 5, "b": true, "x": 0.5})");
}

}  // namespace
