// World tokenizer throughput: Encode on English, Chinese and mixed text (bytes/s), Decode,
// and building the tokenizer from the vocabulary (tests/data/rwkv_vocab_v20230424.txt).
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "rwkv/engine/tokenizer.h"
#include "rwkv/engine/world_vocab.h"

namespace rwkv::engine {
namespace {

std::string VocabPath() {
#ifdef RWKV_SOURCE_DIR
  return std::string(RWKV_SOURCE_DIR) + "/tests/data/rwkv_vocab_v20230424.txt";
#else
  return "tests/data/rwkv_vocab_v20230424.txt";
#endif
}

// The GGUF token table of a World model, as FromGguf would see it.
std::vector<std::string> WorldTokens() {
  static const std::vector<std::string>* tokens = [] {
    auto* out = new std::vector<std::string>();
    absl::StatusOr<std::vector<std::string>> vocab = ReadWorldVocabFile(VocabPath());
    if (!vocab.ok()) return out;
    absl::StatusOr<GgufVocab> g = WorldVocabGgufTokens(*vocab, 65536);
    if (!g.ok()) return out;
    for (const std::string& t : g->tokens) out->push_back(UnescapeGgufToken(t));
    return out;
  }();
  return *tokens;
}

const Tokenizer* World() {
  static const Tokenizer* tok = [] {
    absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromTokenBytes(WorldTokens());
    return t.ok() ? t->release() : nullptr;
  }();
  return tok;
}

const char* const kEnglish[] = {
    "The quick brown fox jumps over the lazy dog. ",
    "RWKV is an RNN with transformer-level LLM performance, and it can be trained like a GPT. ",
    "User: What's the weather like in Berlin tomorrow?\n\nAssistant: ",
    "for (int i = 0; i < n; ++i) { sum += values[i] * weights[i]; }\n",
    "In 2023, the model was evaluated on 12 benchmarks, scoring 71.4% on average. ",
    "Email me at someone@example.com or visit https://example.org/docs/index.html. ",
    "She said, \"It's not about the destination; it's about the journey.\" ",
};
const char* const kChinese[] = {
    "春节是中国最重要的传统节日之一，人们会贴春联、吃饺子、放鞭炮。",
    "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。",
    "机器学习是人工智能的一个分支，它使计算机能够从数据中学习。",
    "今天天气很好，我们一起去公园散步吧！",
    "这个模型在多种语言上都表现出色，包括中文、英文和日文。",
};

// About `bytes` of text drawn from the sentences above, in a fixed pseudo-random order.
std::string MakeText(size_t bytes, bool english, bool chinese) {
  std::mt19937 rng(42);
  std::string out;
  while (out.size() < bytes) {
    const bool pick_en = english && (!chinese || rng() % 2 == 0);
    if (pick_en) {
      out += kEnglish[rng() % std::size(kEnglish)];
    } else {
      out += kChinese[rng() % std::size(kChinese)];
    }
  }
  return out;
}

void RunEncode(benchmark::State& state, const std::string& text) {
  const Tokenizer* tok = World();
  if (tok == nullptr) {
    state.SkipWithError(("cannot read " + VocabPath()).c_str());
    return;
  }
  size_t n_tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = tok->Encode(text);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bytes_per_token"] =
      static_cast<double>(text.size()) / static_cast<double>(n_tokens);
}

void BM_EncodeMixed(benchmark::State& state) {
  static const std::string text = MakeText(1 << 20, true, true);
  RunEncode(state, text);
}
void BM_EncodeEnglish(benchmark::State& state) {
  static const std::string text = MakeText(1 << 20, true, false);
  RunEncode(state, text);
}
void BM_EncodeChinese(benchmark::State& state) {
  static const std::string text = MakeText(1 << 20, false, true);
  RunEncode(state, text);
}

void BM_Decode(benchmark::State& state) {
  const Tokenizer* tok = World();
  if (tok == nullptr) {
    state.SkipWithError(("cannot read " + VocabPath()).c_str());
    return;
  }
  const std::string text = MakeText(1 << 20, true, true);
  const std::vector<int32_t> ids = tok->Encode(text);
  for (auto _ : state) {
    absl::StatusOr<std::string> s = tok->Decode(ids);
    benchmark::DoNotOptimize(s->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_BuildWorldTokenizer(benchmark::State& state) {
  const std::vector<std::string> tokens = WorldTokens();
  if (tokens.empty()) {
    state.SkipWithError(("cannot read " + VocabPath()).c_str());
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromTokenBytes(tokens);
    benchmark::DoNotOptimize(t->get());
  }
}

BENCHMARK(BM_EncodeMixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeEnglish)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeChinese)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildWorldTokenizer)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rwkv::engine
