// rwkv tokenize -m M.gguf --text STR | --file F: prints the token ids of the text (or of the
// file's raw bytes, which need not be UTF-8) as one JSON array on one line. Only the GGUF's
// tokenizer metadata is read.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/tokenizer.h"
#include "services/cli/args.h"
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

absl::StatusOr<std::string> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open input file"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ss.str();
}

int RunTokenize(const std::vector<std::string>& args) {
  std::string model, text, file;
  ArgParser parser("tokenize", "-m M.gguf (--text STR | --file F)");
  parser.AddString({"-m", "--model"}, &model, "model GGUF (only its tokenizer is read)");
  parser.AddString({"--text"}, &text, "text to tokenize");
  parser.AddString({"--file", "-f"}, &file, "file whose raw bytes are tokenized");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("tokenize", s);
  if (parser.help_requested()) {
    std::fputs(parser.Usage().c_str(), stdout);
    return 0;
  }
  if (!parser.positionals().empty()) {
    return Fail("tokenize", absl::InvalidArgumentError(absl::StrCat("unexpected argument '",
                                                                    parser.positionals()[0], "'")));
  }
  if (model.empty()) return Fail("tokenize", absl::InvalidArgumentError("missing -m M.gguf"));
  if (parser.WasSet("--text") == parser.WasSet("--file")) {
    return Fail("tokenize", absl::InvalidArgumentError("give exactly one of --text and --file"));
  }
  if (parser.WasSet("--file")) {
    absl::StatusOr<std::string> bytes = ReadBytes(file);
    if (!bytes.ok()) return Fail("tokenize", bytes.status());
    text = *std::move(bytes);
  }
  absl::StatusOr<std::unique_ptr<engine::GgufFile>> gguf = engine::GgufFile::Open(model);
  if (!gguf.ok()) return Fail("tokenize", gguf.status());
  absl::StatusOr<std::unique_ptr<engine::Tokenizer>> tok = engine::Tokenizer::FromGguf(**gguf);
  if (!tok.ok()) return Fail("tokenize", tok.status());

  const std::vector<int32_t> ids = (*tok)->Encode(text);
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, ids[i]);
  }
  out.append("]\n");
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return Fail("tokenize", absl::DataLossError("cannot write to stdout"));
  }
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("tokenize", "print the token ids of a text as a JSON array", RunTokenize);

}  // namespace rwkv::cli
