// Feeds arbitrary bytes to the tokenizer and the vocabulary parser:
//  * as text for a fixed small vocabulary: Encode must equal a brute-force longest match
//    (short inputs) and Decode(Encode(x)) must give x back;
//  * through EscapeGgufToken / UnescapeGgufToken, which must round-trip;
//  * as a vocabulary file body (and as one Python literal): errors are fine, crashes are not;
//    a vocabulary that parses must build a tokenizer that round-trips the input when it
//    covers every byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rwkv/engine/tokenizer.h"
#include "rwkv/engine/world_vocab.h"

namespace {

using rwkv::engine::Tokenizer;

const std::vector<std::string>& FixedVocab() {
  static const std::vector<std::string>* vocab = [] {
    auto* v = new std::vector<std::string>();
    for (int i = 0; i < 256; ++i) v->emplace_back(1, static_cast<char>(i));
    using namespace std::string_literals;
    for (const std::string& t : {"th"s, "the"s, " the"s, "he"s, "ing"s, "\n\n"s, "\r\n"s, "ab"s,
                                 "abc"s, "abcd"s, "bcd"s, "\xe4\xb8\xad"s, "\xe4\xb8"s, "<s>"s,
                                 "[PAD]"s, "  "s, "    "s, "aaa"s, "aa"s, "\xff\xff"s, "\0\0"s,
                                 "\0a"s, "ab"s /* duplicate: the higher id wins */}) {
      v->push_back(t);
    }
    return v;
  }();
  return *vocab;
}

const Tokenizer& FixedTokenizer() {
  static const Tokenizer* tok = [] {
    auto t = Tokenizer::FromTokenBytes(FixedVocab());
    if (!t.ok()) std::abort();
    return t->release();
  }();
  return *tok;
}

std::vector<int32_t> BruteForce(const std::vector<std::string>& vocab, std::string_view s) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < s.size()) {
    int32_t best = -1;
    size_t best_len = 0;
    for (size_t id = 0; id < vocab.size(); ++id) {
      const std::string& t = vocab[id];
      if (!t.empty() && t[0] == s[pos] && t.size() >= best_len && s.substr(pos, t.size()) == t) {
        best = static_cast<int32_t>(id);
        best_len = t.size();
      }
    }
    if (best < 0) std::abort();  // every byte is a token
    ids.push_back(best);
    pos += best_len;
  }
  return ids;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const Tokenizer& tok = FixedTokenizer();
  const std::vector<int32_t> ids = tok.Encode(input);
  if (size <= 256 && ids != BruteForce(FixedVocab(), input)) std::abort();
  auto back = tok.Decode(ids);
  if (!back.ok() || *back != input) std::abort();

  if (rwkv::engine::UnescapeGgufToken(rwkv::engine::EscapeGgufToken(input)) != input) {
    std::abort();
  }
  (void)rwkv::engine::UnescapeGgufToken(input);
  (void)rwkv::engine::ParsePythonLiteral(input);

  auto vocab = rwkv::engine::ParseWorldVocab(input, "fuzz.txt");
  if (vocab.ok()) {
    auto parsed = Tokenizer::FromTokenBytes(*vocab);
    if (!parsed.ok()) std::abort();
    const std::vector<int32_t> vocab_ids = (*parsed)->Encode(input);
    auto text = (*parsed)->Decode(vocab_ids);
    if (!text.ok()) std::abort();
    if ((*parsed)->covers_all_bytes() && *text != input) std::abort();
    auto gguf =
        rwkv::engine::WorldVocabGgufTokens(*vocab, static_cast<uint32_t>(vocab->size() + 3));
    if (!gguf.ok() || gguf->tokens.size() != vocab->size() + 3) std::abort();
  }
  return 0;
}
