#include "rwkv/engine/world_vocab.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rwkv/engine/tokenizer.h"

namespace rwkv::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Literal(std::string_view text) {
  absl::StatusOr<std::string> r = ParsePythonLiteral(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status();
  return r.ok() ? *r : std::string();
}

TEST(PythonLiteralTest, DecodesStrEscapesToUtf8) {
  EXPECT_EQ(Literal(R"('abc')"), "abc");
  EXPECT_EQ(Literal(R"("it's")"), "it's");
  EXPECT_EQ(Literal(R"('\t\n\r\\\'\"')"), "\t\n\r\\'\"");
  EXPECT_EQ(Literal(R"('\a\b\f\v')"), "\a\b\f\v");
  // In a str literal \x81 is the code point U+0081: two UTF-8 bytes.
  EXPECT_EQ(Literal(R"('\x81')"), "\xC2\x81");
  EXPECT_EQ(Literal(R"('\u00e9\U0001F600')"), "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(Literal(R"('\101\0\777')"), std::string("A\0\xC7\xBF", 4));
  EXPECT_EQ(Literal("'\xE6\x98\xA5'"), "\xE6\x98\xA5");  // raw UTF-8 in the source
  EXPECT_EQ(Literal(R"('\q')"), "\\q");                  // unknown escapes keep the backslash
  EXPECT_EQ(Literal("''"), "");
}

TEST(PythonLiteralTest, DecodesBytesLiteralsByteForByte) {
  EXPECT_EQ(Literal(R"(b'\x81\xff')"), "\x81\xff");
  EXPECT_EQ(Literal(R"(B"\x00")"), std::string(1, '\0'));
  EXPECT_EQ(Literal(R"(b'\u00e9')"), "\\u00e9");  // not an escape in bytes
  EXPECT_EQ(Literal(R"(b'\377')"), "\xff");
}

TEST(PythonLiteralTest, KeepsBackslashesInRawLiterals) {
  EXPECT_EQ(Literal(R"(r'\n')"), "\\n");
  EXPECT_EQ(Literal(R"(rb'\x00\'')"), "\\x00\\'");
  EXPECT_EQ(Literal(R"(BR"\d")"), "\\d");
}

TEST(PythonLiteralTest, RejectsMalformedLiterals) {
  for (const char* bad :
       {"abc", "'abc", "'abc'x", "'a'b'", R"('\x4')", R"('\u12')", R"('\ud800')", R"('\U00110000')",
        R"(b'\400')", "b'\xC3\xA9'", "'\xC3'", "'\xED\xA0\x80'", "f'x'", "ub'x'", "'''x'''",
        R"('\N{DASH}')", R"(r'\')", "'a\nb'", ""}) {
    EXPECT_FALSE(ParsePythonLiteral(bad).ok()) << bad;
  }
}

TEST(WorldVocabTest, ParsesLfAndCrlfBodies) {
  const std::string lf = "1 '\\x00' 1\n2 ' ' 1\n3 b'\\xe6\\x98' 2\n4 'a b' 3\n5 \"'\" 1\n";
  std::string crlf;
  for (char c : lf) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  for (const std::string& body : {lf, crlf}) {
    absl::StatusOr<std::vector<std::string>> v = ParseWorldVocab(body, "v.txt");
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_THAT(*v, ElementsAre(std::string(1, '\0'), " ", "\xe6\x98", "a b", "'"));
  }
  // A missing final newline is fine.
  absl::StatusOr<std::vector<std::string>> v = ParseWorldVocab("1 'x' 1", "v.txt");
  ASSERT_TRUE(v.ok());
  EXPECT_THAT(*v, ElementsAre("x"));
}

TEST(WorldVocabTest, ReportsFileAndLineOfMalformedLines) {
  struct Case {
    std::string body;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"1 'a' 1\n2 'bb' 1\n", "v.txt:2: token 2 has 2 bytes but the line says 1"},
      {"1 'a' 1\n3 'b' 1\n", "v.txt:2: token id 3 out of order (expected 2)"},
      {"1 'a' 1\n\n2 'b' 1\n", "v.txt:2: expected"},
      {"1 'a'\n", "v.txt:1: expected"},
      {"x 'a' 1\n", "v.txt:1: bad token id"},
      {"1 'a' 1x\n", "v.txt:1: bad byte length"},
      {"1 'a' -1\n", "v.txt:1: bad byte length"},
      {"1 'a 1\n", "v.txt:1: token 1: unterminated literal"},
      {"1 a 1\n", "v.txt:1: token 1: not a Python"},
      {"1 '\\xZZ' 1\n", "v.txt:1: token 1: truncated \\x escape"},
      {"", "v.txt: vocabulary file has no tokens"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<std::string>> v = ParseWorldVocab(c.body, "v.txt");
    ASSERT_FALSE(v.ok()) << c.body;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(c.expect)) << c.body;
  }
}

TEST(WorldVocabTest, ReadFileReportsMissingFile) {
  absl::StatusOr<std::vector<std::string>> v = ReadWorldVocabFile("/nonexistent/vocab.txt");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("/nonexistent/vocab.txt"));
}

TEST(GgufTokenEscapeTest, MatchesPythonReprOfBytes) {
  EXPECT_EQ(EscapeGgufToken(std::string(1, '\0')), "\\x00");
  EXPECT_EQ(EscapeGgufToken("'"), "'");    // " is the delimiter, so ' stays bare
  EXPECT_EQ(EscapeGgufToken("\""), "\"");  // ' is the delimiter
  EXPECT_EQ(EscapeGgufToken("'\""), "\\'\"");
  EXPECT_EQ(EscapeGgufToken("\\"), "\\\\");
  EXPECT_EQ(EscapeGgufToken("\x80"), "\\x80");
  EXPECT_EQ(EscapeGgufToken("\n\n"), "\\n\\n");
  EXPECT_EQ(EscapeGgufToken("\t\r\x7f\x1b"), "\\t\\r\\x7f\\x1b");
  EXPECT_EQ(EscapeGgufToken("\xe2\x80\x82"), "\\xe2\\x80\\x82");
  EXPECT_EQ(EscapeGgufToken(" Hello~"), " Hello~");
}

TEST(GgufTokenEscapeTest, UnescapesLikeLlamaCpp) {
  EXPECT_EQ(UnescapeGgufToken("\\x00"), std::string(1, '\0'));
  EXPECT_EQ(UnescapeGgufToken("\\t\\n\\r\\\\\\'"), "\t\n\r\\'");
  EXPECT_EQ(UnescapeGgufToken("<s>"), "<s>");
  EXPECT_EQ(UnescapeGgufToken("[PAD65530]"), "[PAD65530]");
  EXPECT_EQ(UnescapeGgufToken("\\q"), "q");
  EXPECT_EQ(UnescapeGgufToken("ab\\"), "ab");  // dangling escape dropped
  EXPECT_EQ(UnescapeGgufToken("\\x4"), "");    // incomplete hex dropped
  // Uppercase hex uses llama.cpp's arithmetic: 'A' - '0' = 17, so \xAA = (17*16+17) mod 256.
  EXPECT_EQ(UnescapeGgufToken("\\xAA"), "\x21");
}

TEST(GgufTokenEscapeTest, RoundTripsEveryByteString) {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    const std::string one(1, static_cast<char>(i));
    EXPECT_EQ(UnescapeGgufToken(EscapeGgufToken(one)), one) << i;
    all.push_back(static_cast<char>(i));
  }
  EXPECT_EQ(UnescapeGgufToken(EscapeGgufToken(all)), all);
  EXPECT_EQ(UnescapeGgufToken(EscapeGgufToken("it's \"x\" \\")), "it's \"x\" \\");
}

TEST(WorldVocabTest, GgufTokensFollowTheConverter) {
  absl::StatusOr<GgufVocab> g = WorldVocabGgufTokens({std::string(1, '\0'), "\n\n", "'"}, 6);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_THAT(g->tokens, ElementsAre("<s>", "\\x00", "\\n\\n", "'", "[PAD4]", "[PAD5]"));
  EXPECT_THAT(g->types, ElementsAre(3, 1, 1, 1, 5, 5));
  absl::StatusOr<GgufVocab> exact = WorldVocabGgufTokens({"a"}, 2);
  ASSERT_TRUE(exact.ok());
  EXPECT_THAT(exact->tokens, ElementsAre("<s>", "a"));
  EXPECT_FALSE(WorldVocabGgufTokens({"a", "b"}, 2).ok());
  EXPECT_FALSE(WorldVocabGgufTokens({"a"}, 0xFFFFFFFFu).ok());
}

}  // namespace
}  // namespace rwkv::engine
