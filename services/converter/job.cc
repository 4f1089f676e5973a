#include "services/converter/job.h"

#include <array>
#include <random>

#include "absl/strings/str_format.h"

namespace rwkv::converter {
namespace {

constexpr std::array<absl::string_view, 3> kKindNames = {"convert_checkpoint", "quantize",
                                                         "convert_state"};
constexpr std::array<absl::string_view, 5> kStateNames = {"queued", "running", "succeeded",
                                                          "failed", "cancelled"};

}  // namespace

absl::string_view KindName(JobKind kind) { return kKindNames[static_cast<size_t>(kind)]; }
absl::string_view StateName(JobState state) { return kStateNames[static_cast<size_t>(state)]; }

std::optional<JobKind> ParseKindName(absl::string_view name) {
  for (size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<JobKind>(i);
  }
  return std::nullopt;
}

std::optional<JobState> ParseStateName(absl::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

std::string NewJobId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("j-%016x", rng());
}

}  // namespace rwkv::converter
