// Server-sent events framing (the WHATWG event-stream format) as OpenAI streams use it: each
// JSON object is one event of "data:" lines ended by a blank line, and the stream ends with
// "data: [DONE]".
#pragma once

#include <string>
#include <string_view>

namespace rwkv::gateway {

// One event carrying `payload`; a payload with newlines becomes several "data:" lines, which
// a reader joins back with "\n".
std::string SseEvent(std::string_view payload);

// The event that ends an OpenAI stream.
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace rwkv::gateway
