#include "rwkv/engine/text_stream.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

// Pushes every piece and returns the deltas; `all` gets their concatenation plus Flush().
std::vector<std::string> PushAll(TextStreamer& s, const std::vector<std::string>& pieces,
                                 std::string* all) {
  std::vector<std::string> deltas;
  all->clear();
  for (const std::string& p : pieces) {
    TextDelta d = s.Push(p);
    deltas.push_back(d.text);
    all->append(d.text);
  }
  all->append(s.Flush());
  return deltas;
}

TEST(TextStreamerTest, HoldsTwoByteCharacterSplitAcrossTokens) {
  TextStreamer s;
  std::string all;
  auto d = PushAll(s, {"caf\xC3", "\xA9!"}, &all);
  EXPECT_EQ(d[0], "caf");
  EXPECT_EQ(d[1], "\xC3\xA9!");
  EXPECT_EQ(all, "caf\xC3\xA9!");
}

TEST(TextStreamerTest, HoldsThreeByteCharacterSplitOverThreeTokens) {
  TextStreamer s;
  std::string all;
  auto d = PushAll(s, {"\xE4", "\xB8", "\xAD", "x"}, &all);
  EXPECT_EQ(d[0], "");
  EXPECT_EQ(d[1], "");
  EXPECT_EQ(d[2], "\xE4\xB8\xAD");
  EXPECT_EQ(d[3], "x");
}

TEST(TextStreamerTest, HoldsEmojiUntilComplete) {
  TextStreamer s;
  std::string all;
  auto d = PushAll(s, {"a\xF0\x9F", "\x98", "\x80\xF0", "\x9F\x91\x8D"}, &all);
  EXPECT_EQ(d[0], "a");
  EXPECT_EQ(d[1], "");
  EXPECT_EQ(d[2], "\xF0\x9F\x98\x80");
  EXPECT_EQ(d[3], "\xF0\x9F\x91\x8D");
  EXPECT_EQ(all, "a\xF0\x9F\x98\x80\xF0\x9F\x91\x8D");
}

TEST(TextStreamerTest, PassesInvalidBytesThrough) {
  TextStreamer s;
  EXPECT_EQ(s.Push("\xFF").text, "\xFF");
  EXPECT_EQ(s.Push("\x80\x80").text, "\x80\x80");
  EXPECT_EQ(s.Push("\xC0").text, "\xC0");
  EXPECT_EQ(s.Push("\xE4").text, "");
  EXPECT_EQ(s.Push("a").text,
            "\xE4"
            "a");  // an interrupted sequence is emitted as is
  EXPECT_EQ(s.pending_bytes(), 0u);
}

TEST(TextStreamerTest, FlushEmitsIncompleteTailAsRawBytes) {
  TextStreamer s;
  EXPECT_EQ(s.Push("ok\xE4\xB8").text, "ok");
  EXPECT_EQ(s.pending_bytes(), 2u);
  EXPECT_EQ(s.Flush(), "\xE4\xB8");
  EXPECT_EQ(s.Flush(), "");
}

TEST(TextStreamerTest, StopsOnStopStringAcrossThreeTokens) {
  TextStreamer s({"<|end|>"});
  TextDelta d1 = s.Push("Hello <|");
  EXPECT_EQ(d1.text, "Hello ");
  EXPECT_FALSE(d1.stopped);
  TextDelta d2 = s.Push("en");
  EXPECT_EQ(d2.text, "");
  EXPECT_FALSE(d2.stopped);
  TextDelta d3 = s.Push("d|> trailing");
  EXPECT_EQ(d3.text, "");
  EXPECT_TRUE(d3.stopped);
  EXPECT_TRUE(s.stopped());
  EXPECT_TRUE(s.Push("more").stopped);
  EXPECT_EQ(s.Flush(), "");
}

TEST(TextStreamerTest, EmitsTextBeforeStopInTheSameToken) {
  TextStreamer s({"\n\nUser:"});
  TextDelta d = s.Push("Sure.\n\nUser: hi");
  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(d.text, "Sure.");
}

TEST(TextStreamerTest, ReleasesPrefixThatDoesNotComplete) {
  TextStreamer s({"\n\nUser:"});
  std::string all;
  auto d = PushAll(s, {"a\n", "\nUs", "ual"}, &all);
  EXPECT_EQ(d[0], "a");
  EXPECT_EQ(d[1], "");
  EXPECT_EQ(d[2], "\n\nUsual");
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(all, "a\n\nUsual");
}

TEST(TextStreamerTest, FlushReleasesPendingStopPrefix) {
  TextStreamer s({"STOP"});
  EXPECT_EQ(s.Push("abcST").text, "abc");
  EXPECT_EQ(s.Flush(), "ST");
}

TEST(TextStreamerTest, EarliestStopStringWins) {
  TextStreamer s({"world", "lo w"});
  TextDelta d = s.Push("hello world");
  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(d.text, "hel");
}

TEST(TextStreamerTest, MultiByteStopString) {
  TextStreamer s({"\xE4\xB8\x96\xE7\x95\x8C"});  // 世界
  EXPECT_EQ(s.Push("\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96").text, "\xE4\xBD\xA0\xE5\xA5\xBD");
  TextDelta d = s.Push("\xE7\x95\x8C!");
  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(d.text, "");
}

TEST(TextStreamerTest, IncompleteUtf8TailLengths) {
  EXPECT_EQ(IncompleteUtf8Tail(""), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xC3"), 1u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\x80\x80"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\xFF"), 0u);
}

TEST(StopConditionsTest, ChecksTokensAndMaxTokens) {
  StopConditions stop;
  stop.stop_token_ids = {0, 261};
  stop.max_tokens = 3;
  EXPECT_TRUE(stop.IsStopToken(261));
  EXPECT_FALSE(stop.IsStopToken(11));
  EXPECT_FALSE(stop.ReachedMaxTokens(2));
  EXPECT_TRUE(stop.ReachedMaxTokens(3));
  stop.max_tokens = -1;
  EXPECT_FALSE(stop.ReachedMaxTokens(1000000));
}

TEST(StopConditionsTest, ValidationEnforcesLimits) {
  StopConditions stop;
  stop.stop_strings.assign(16, "x");
  EXPECT_TRUE(ValidateStopConditions(stop).ok());
  stop.stop_strings.push_back("y");
  EXPECT_EQ(ValidateStopConditions(stop).code(), absl::StatusCode::kInvalidArgument);
  stop.stop_strings = {std::string(256, 'a')};
  EXPECT_TRUE(ValidateStopConditions(stop).ok());
  stop.stop_strings = {std::string(257, 'a')};
  EXPECT_EQ(ValidateStopConditions(stop).code(), absl::StatusCode::kInvalidArgument);
  stop.stop_strings = {""};
  EXPECT_EQ(ValidateStopConditions(stop).code(), absl::StatusCode::kInvalidArgument);
  stop.stop_strings = {};
  stop.stop_token_ids = {-1};
  EXPECT_EQ(ValidateStopConditions(stop).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::engine
