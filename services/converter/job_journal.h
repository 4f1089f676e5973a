// The converter's job journal: one small JSON file per job under <root>/jobs/, replaced
// atomically (write temp, fsync, rename, fsync dir) on every state change, so the journal is
// consistent after a crash at any point. Progress is not journaled.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/converter/job.h"

namespace rwkv::converter {

// JSON encoding of a job (stable field names, RFC 3339 UTC timestamps).
std::string JobToJson(const Job& job);
// InvalidArgument for malformed JSON or unknown kind/state names.
absl::StatusOr<Job> JobFromJson(const std::string& json);

// The JSON object of a quantization quality record (journal and manifest): eval_text, ctx,
// chunks, tokens_scored, ppl_source(_error), ppl_result(_error), mean_kld(_error), kld_p99,
// same_top_fraction. Missing fields read as 0.
google::protobuf::Struct QualityToStruct(const QuantizationQuality& q);
QuantizationQuality QualityFromStruct(const google::protobuf::Struct& s);

class JobJournal {
 public:
  // `dir` is <root>/jobs.
  explicit JobJournal(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the folder and removes temporary files a crash left behind.
  absl::Status Init() const;
  // Atomically replaces jobs/<id>.json. Thread-safe for distinct ids.
  absl::Status Write(const Job& job) const;
  // Deletes jobs/<id>.json (no error when it is already gone).
  absl::Status Remove(const std::string& id) const;
  // Every job file that parses; files that do not are reported in `errors` and skipped.
  std::vector<Job> LoadAll(std::vector<std::string>* errors) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace rwkv::converter
