#include "gateway/sse.h"

namespace rwkv::gateway {

std::string SseEvent(std::string_view payload) {
  std::string event;
  event.reserve(payload.size() + 8);
  size_t start = 0;
  for (;;) {
    size_t end = payload.find('\n', start);
    std::string_view line =
        payload.substr(start, end == std::string_view::npos ? end : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    event.append("data: ").append(line).append("\n");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  event.append("\n");
  return event;
}

}  // namespace rwkv::gateway
