// rwkv detokenize -m M.gguf --ids 1,2,3: writes the raw bytes the ids stand for to stdout,
// with no newline added. Control tokens (id 0 "<s>") print nothing, as in llama.cpp.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/tokenizer.h"
#include "services/cli/args.h"
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

// "1,2,3", also with spaces or in JSON-array brackets (the output of `rwkv tokenize`).
absl::StatusOr<std::vector<int32_t>> ParseIds(std::string spec) {
  absl::string_view s = absl::StripAsciiWhitespace(spec);
  if (absl::ConsumePrefix(&s, "[") && !absl::ConsumeSuffix(&s, "]")) {
    return absl::InvalidArgumentError("--ids: missing closing ']'");
  }
  std::vector<int32_t> ids;
  if (absl::StripAsciiWhitespace(s).empty()) return ids;
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    part = absl::StripAsciiWhitespace(part);
    int32_t id;
    if (!absl::SimpleAtoi(part, &id)) {
      return absl::InvalidArgumentError(absl::StrCat("--ids: '", part, "' is not a token id"));
    }
    ids.push_back(id);
  }
  return ids;
}

int RunDetokenize(const std::vector<std::string>& args) {
  std::string model, ids_spec;
  ArgParser parser("detokenize", "-m M.gguf --ids 1,2,3");
  parser.AddString({"-m", "--model"}, &model, "model GGUF (only its tokenizer is read)");
  parser.AddString({"--ids"}, &ids_spec, "comma-separated token ids");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("detokenize", s);
  if (parser.help_requested()) {
    std::fputs(parser.Usage().c_str(), stdout);
    return 0;
  }
  if (!parser.positionals().empty()) {
    return Fail("detokenize", absl::InvalidArgumentError(absl::StrCat(
                                  "unexpected argument '", parser.positionals()[0], "'")));
  }
  if (model.empty()) return Fail("detokenize", absl::InvalidArgumentError("missing -m M.gguf"));
  if (!parser.WasSet("--ids"))
    return Fail("detokenize", absl::InvalidArgumentError("missing --ids"));
  absl::StatusOr<std::vector<int32_t>> ids = ParseIds(ids_spec);
  if (!ids.ok()) return Fail("detokenize", ids.status());

  absl::StatusOr<std::unique_ptr<engine::GgufFile>> gguf = engine::GgufFile::Open(model);
  if (!gguf.ok()) return Fail("detokenize", gguf.status());
  absl::StatusOr<std::unique_ptr<engine::Tokenizer>> tok = engine::Tokenizer::FromGguf(**gguf);
  if (!tok.ok()) return Fail("detokenize", tok.status());
  absl::StatusOr<std::string> bytes = (*tok)->Decode(*ids);
  if (!bytes.ok()) {
    return Fail("detokenize", absl::Status(bytes.status().code(),
                                           absl::StrCat(model, ": ", bytes.status().message())));
  }
  if (std::fwrite(bytes->data(), 1, bytes->size(), stdout) != bytes->size() ||
      std::fflush(stdout) != 0) {
    return Fail("detokenize", absl::DataLossError("cannot write to stdout"));
  }
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("detokenize", "write the bytes that token ids stand for", RunDetokenize);

}  // namespace rwkv::cli
