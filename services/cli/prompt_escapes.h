// llama-cli processes escapes in -p by default (--escape): \n \r \t \' \" \\ and \xNN.
#pragma once

#include <string>
#include <string_view>

namespace rwkv::cli {

std::string ProcessPromptEscapes(std::string_view text);

}  // namespace rwkv::cli
