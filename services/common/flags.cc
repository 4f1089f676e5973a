#include "services/common/flags.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rwkv::services {

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::AddString(std::string name, std::string* value, std::string help) {
  flags_.push_back({std::move(name), Kind::kString, value, std::move(help)});
}
void FlagSet::AddInt(std::string name, int64_t* value, std::string help) {
  flags_.push_back({std::move(name), Kind::kInt, value, std::move(help)});
}
void FlagSet::AddDuration(std::string name, absl::Duration* value, std::string help) {
  flags_.push_back({std::move(name), Kind::kDuration, value, std::move(help)});
}
void FlagSet::AddBool(std::string name, bool* value, std::string help) {
  flags_.push_back({std::move(name), Kind::kBool, value, std::move(help)});
}

std::string FlagSet::EnvName(absl::string_view flag) {
  std::string out = "RWKV_";
  for (char c : flag) out.push_back(c == '-' ? '_' : absl::ascii_toupper(c));
  return out;
}

const FlagSet::Flag* FlagSet::Find(absl::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Set(const Flag& flag, absl::string_view value,
                          absl::string_view source) const {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " expects ", what, ", got '", value, "'"));
  };
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.value) = std::string(value);
      return absl::OkStatus();
    case Kind::kInt:
      if (!absl::SimpleAtoi(value, static_cast<int64_t*>(flag.value))) {
        return bad("an integer");
      }
      return absl::OkStatus();
    case Kind::kDuration: {
      double seconds;
      if (absl::SimpleAtod(value, &seconds) && seconds >= 0) {
        *static_cast<absl::Duration*>(flag.value) = absl::Seconds(seconds);
        return absl::OkStatus();
      }
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration()) {
        return bad("a duration such as 30s");
      }
      *static_cast<absl::Duration*>(flag.value) = d;
      return absl::OkStatus();
    }
    case Kind::kBool:
      if (!absl::SimpleAtob(value, static_cast<bool*>(flag.value))) return bad("true or false");
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args, const EnvLookup& env) {
  for (const Flag& f : flags_) {
    const std::string var = EnvName(f.name);
    if (std::optional<std::string> v = env(var); v.has_value() && !v->empty()) {
      if (absl::Status s = Set(f, *v, var); !s.ok()) return s;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return absl::OkStatus();
    }
    if (arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    arg.remove_prefix(2);
    absl::string_view name = arg;
    std::optional<absl::string_view> value;
    if (const size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const Flag* flag = Find(name);
    if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (!value.has_value()) {
      if (flag->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    }
    if (absl::Status s = Set(*flag, *value, absl::StrCat("flag --", name)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status FlagSet::Parse(int argc, char** argv) {
  return Parse(std::vector<std::string>(argv + 1, argv + argc),
               [](const std::string& var) -> std::optional<std::string> {
                 const char* v = std::getenv(var.c_str());
                 if (v == nullptr) return std::nullopt;
                 return std::string(v);
               });
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("usage: ", program_, " [flags]\n", summary_, "\n\nflags:\n");
  for (const Flag& f : flags_) {
    absl::StrAppend(&out, "  --", f.name, "  (env ", EnvName(f.name), ")\n      ", f.help, "\n");
  }
  return out;
}

}  // namespace rwkv::services
