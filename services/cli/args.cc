#include "services/cli/args.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rwkv::cli {

ArgParser::ArgParser(std::string command, std::string usage_line)
    : command_(std::move(command)), usage_line_(std::move(usage_line)) {}

void ArgParser::AddString(std::initializer_list<std::string_view> names, std::string* out,
                          std::string help) {
  options_.push_back({{names.begin(), names.end()}, Kind::kString, out, std::move(help)});
}
void ArgParser::AddInt(std::initializer_list<std::string_view> names, int64_t* out,
                       std::string help) {
  options_.push_back({{names.begin(), names.end()}, Kind::kInt, out, std::move(help)});
}
void ArgParser::AddFloat(std::initializer_list<std::string_view> names, double* out,
                         std::string help) {
  options_.push_back({{names.begin(), names.end()}, Kind::kFloat, out, std::move(help)});
}
void ArgParser::AddFlag(std::initializer_list<std::string_view> names, bool* out,
                        std::string help) {
  options_.push_back({{names.begin(), names.end()}, Kind::kFlag, out, std::move(help)});
}

ArgParser::Option* ArgParser::Find(std::string_view name) {
  for (auto& o : options_) {
    for (const auto& n : o.names) {
      if (n == name) return &o;
    }
  }
  return nullptr;
}

const ArgParser::Option* ArgParser::Find(std::string_view name) const {
  return const_cast<ArgParser*>(this)->Find(name);
}

bool ArgParser::WasSet(std::string_view name) const {
  const Option* o = Find(name);
  return o != nullptr && o->set;
}

absl::Status ArgParser::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-' || arg == "--" ||
        (arg.size() > 1 && (std::isdigit(static_cast<unsigned char>(arg[1])) || arg[1] == '.'))) {
      if (arg == "--") {
        positionals_.insert(positionals_.end(), args.begin() + i + 1, args.end());
        break;
      }
      positionals_.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    Option* opt = Find(name);
    if (opt == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", name));
    }
    opt->set = true;
    if (opt->kind == Kind::kFlag) {
      if (has_value) return absl::InvalidArgumentError(absl::StrCat(name, " takes no value"));
      *static_cast<bool*>(opt->out) = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      }
      value = args[++i];
    }
    switch (opt->kind) {
      case Kind::kString:
        *static_cast<std::string*>(opt->out) = value;
        break;
      case Kind::kInt: {
        int64_t v;
        if (!absl::SimpleAtoi(value, &v)) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, " expects an integer, got '", value, "'"));
        }
        *static_cast<int64_t*>(opt->out) = v;
        break;
      }
      case Kind::kFloat: {
        double v;
        if (!absl::SimpleAtod(value, &v) || std::isnan(v)) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, " expects a number, got '", value, "'"));
        }
        *static_cast<double*>(opt->out) = v;
        break;
      }
      case Kind::kFlag:
        break;
    }
  }
  return absl::OkStatus();
}

std::string ArgParser::Usage() const {
  std::string out = absl::StrCat("usage: rwkv ", command_, " ", usage_line_, "\n\noptions:\n");
  for (const auto& o : options_) {
    std::string names = absl::StrJoin(o.names, ", ");
    if (o.kind != Kind::kFlag) absl::StrAppend(&names, " V");
    absl::StrAppend(&out, "  ", names, std::string(names.size() < 28 ? 28 - names.size() : 1, ' '),
                    o.help, "\n");
  }
  return out;
}

}  // namespace rwkv::cli
