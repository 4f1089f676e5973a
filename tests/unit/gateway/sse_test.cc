// Server-sent events framing.
#include "gateway/sse.h"

#include "gtest/gtest.h"

namespace rwkv::gateway {
namespace {

TEST(SseTest, OneLinePayloadIsOneDataLineAndABlankLine) {
  EXPECT_EQ(SseEvent(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(SseEvent(""), "data: \n\n");
}

TEST(SseTest, NewlinesSplitIntoDataLines) {
  EXPECT_EQ(SseEvent("one\ntwo"), "data: one\ndata: two\n\n");
  EXPECT_EQ(SseEvent("one\r\ntwo\n"), "data: one\ndata: two\ndata: \n\n");
}

TEST(SseTest, DoneEndsTheStream) { EXPECT_EQ(kSseDone, "data: [DONE]\n\n"); }

}  // namespace
}  // namespace rwkv::gateway
