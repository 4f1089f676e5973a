// llama.cpp whole-context session files ("ggsn", version 9) for RWKV-6
// (docs/engine/state-file.md): the token history, optional stored logits and one sequence's
// recurrent state.
//
// Two layouts share version 9. kWithOutputs is what llama.cpp c392e50 (the reference build)
// and the tutorial's state converter write: an output-ids/logits/embeddings section sits
// between the arch string and the memory block. kMemoryOnly is the layout of later llama.cpp
// (PR #18862), where that section is gone. The reader accepts both and decides by which one
// consumes the file exactly. Errors are InvalidArgument naming the file and the problem
// (NotFound/PermissionDenied for I/O). Nothing is allocated beyond what the file holds.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/recurrent_state.h"

namespace rwkv::engine {

inline constexpr uint32_t kSessionMagic = 0x6767736E;  // "ggsn"
inline constexpr uint32_t kSessionVersion = 9;

enum class StateFileLayout {
  kWithOutputs,  // c392e50 and the tutorial converter (default for writing)
  kMemoryOnly,   // later llama.cpp: no output-ids/logits/embeddings section
};

struct StateFile {
  std::vector<int32_t> tokens;  // the history that produced the state
  // Output section (kWithOutputs only). output_ids[r] is the batch index of logits row r;
  // logits hold output_ids.size() rows of n_vocab floats (or nothing).
  std::vector<int32_t> output_ids;
  std::vector<float> logits;
  std::vector<float> embeddings;
  // The single memory cell: last position and whether it belongs to sequence 0
  // (n_seq_id 1, seq 0) or to no sequence (n_seq_id 0, the tutorial converter's form).
  int32_t pos = 0;
  bool has_seq_id = false;
  int32_t seq_id = 0;
  RecurrentState state;
  StateFileLayout layout = StateFileLayout::kWithOutputs;  // as read

  // Floats per stored logits row (0 when none).
  uint64_t n_vocab() const { return output_ids.empty() ? 0 : logits.size() / output_ids.size(); }
};

// A tutorial-converter style initial state: no tokens, no outputs, pos 0, no seq id.
StateFile InitialStateFile(RecurrentState state);

// A genuine session after evaluating `tokens` (docs/engine/state-file.md, "Forms the engine
// writes"): one output row holding `last_logits` (when non-empty) at batch index
// `last_batch_index`, cell pos = tokens.size() - 1, seq 0.
StateFile SessionStateFile(std::vector<int32_t> tokens, std::vector<float> last_logits,
                           int32_t last_batch_index, RecurrentState state);

absl::StatusOr<StateFile> ReadStateFile(const std::string& path);
// Parses an in-memory image; `name` prefixes errors.
absl::StatusOr<StateFile> ParseStateFile(std::span<const uint8_t> bytes, std::string_view name);

// Serialises `contents` in `layout` (kMemoryOnly has no place for output ids, logits or
// embeddings and leaves them out). InvalidArgument when the contents are inconsistent: state
// sizes that do not match its shape, logits that are not a whole number of rows.
absl::StatusOr<std::vector<uint8_t>> EncodeStateFile(const StateFile& contents,
                                                     StateFileLayout layout);
// Writes atomically (temporary file, fsync, rename); nothing appears at `path` on failure.
absl::Status WriteStateFile(const std::string& path, const StateFile& contents,
                            StateFileLayout layout = StateFileLayout::kWithOutputs);

}  // namespace rwkv::engine
