#include "rwkv/engine/text_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Expected sequence length for a lead byte, 0 for a byte that cannot start a sequence.
size_t SequenceLength(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

}  // namespace

bool StopConditions::IsStopToken(int32_t token) const {
  return std::find(stop_token_ids.begin(), stop_token_ids.end(), token) != stop_token_ids.end();
}

bool StopConditions::ReachedMaxTokens(int64_t generated) const {
  return max_tokens >= 0 && generated >= max_tokens;
}

absl::Status ValidateStopConditions(const StopConditions& stop) {
  if (stop.stop_strings.size() > kMaxStopStrings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "too many stop strings: ", stop.stop_strings.size(), " (at most ", kMaxStopStrings, ")"));
  }
  for (size_t i = 0; i < stop.stop_strings.size(); ++i) {
    const std::string& s = stop.stop_strings[i];
    if (s.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("stop string ", i, " is empty"));
    }
    if (s.size() > kMaxStopStringBytes) {
      return absl::InvalidArgumentError(absl::StrCat("stop string ", i, " is ", s.size(),
                                                     " bytes (at most ", kMaxStopStringBytes, ")"));
    }
  }
  for (int32_t id : stop.stop_token_ids) {
    if (id < 0) {
      return absl::InvalidArgumentError(absl::StrCat("stop token id ", id, " is negative"));
    }
  }
  return absl::OkStatus();
}

size_t IncompleteUtf8Tail(std::string_view bytes) {
  const size_t n = bytes.size();
  size_t cont = 0;
  while (cont < 3 && cont < n && IsContinuation(static_cast<unsigned char>(bytes[n - 1 - cont]))) {
    ++cont;
  }
  if (cont == n) return 0;  // only continuation bytes (or empty): nothing can complete them
  const size_t want = SequenceLength(static_cast<unsigned char>(bytes[n - 1 - cont]));
  return want > cont + 1 ? cont + 1 : 0;
}

TextStreamer::TextStreamer(std::vector<std::string> stop_strings) {
  for (std::string& s : stop_strings) {
    if (!s.empty()) stop_strings_.push_back(std::move(s));
  }
}

// Longest suffix of pending_ that is a proper prefix of some stop string.
size_t TextStreamer::StopPrefixHoldback() const {
  size_t best = 0;
  const std::string_view pending = pending_;
  for (const std::string& s : stop_strings_) {
    const size_t max_len = std::min(s.size() - 1, pending.size());
    for (size_t len = max_len; len > best; --len) {
      if (pending.substr(pending.size() - len) == std::string_view(s).substr(0, len)) {
        best = len;
        break;
      }
    }
  }
  return best;
}

TextDelta TextStreamer::Push(std::string_view token_bytes) {
  TextDelta delta;
  if (stopped_) {
    delta.stopped = true;
    return delta;
  }
  pending_.append(token_bytes);

  // Earliest stop string occurrence; every occurrence lies wholly inside pending_ because
  // any emitted text was never a possible start of one.
  size_t stop_at = std::string::npos;
  for (const std::string& s : stop_strings_) {
    const size_t pos = pending_.find(s);
    if (pos < stop_at) stop_at = pos;
  }
  if (stop_at != std::string::npos) {
    delta.text = pending_.substr(0, stop_at);
    delta.stopped = true;
    stopped_ = true;
    pending_.clear();
    return delta;
  }

  size_t hold = std::max(StopPrefixHoldback(), IncompleteUtf8Tail(pending_));
  size_t cut = pending_.size() - hold;
  // A stop prefix may begin inside a multi-byte character of the text; never cut there.
  for (int i = 0; i < 3 && cut > 0 && cut < pending_.size() &&
                  IsContinuation(static_cast<unsigned char>(pending_[cut]));
       ++i) {
    --cut;
  }
  delta.text = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return delta;
}

std::string TextStreamer::Flush() {
  if (stopped_) return {};
  return std::exchange(pending_, {});
}

}  // namespace rwkv::engine
