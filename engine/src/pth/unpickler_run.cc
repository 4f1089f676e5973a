// The opcode loop of the restricted unpickler.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pth/unpickler.h"

namespace rwkv::engine::pth {
namespace {

std::string_view RefusedName(uint8_t op) {
  switch (op) {
    case 'i':
      return "INST";
    case 'o':
      return "OBJ";
    case 0x81:
      return "NEWOBJ";
    case 0x92:
      return "NEWOBJ_EX";
    case 'P':
      return "PERSID";
    case 'I':
      return "INT";
    case 'L':
      return "LONG";
    case 0x8b:
      return "LONG4";
    case 'S':
      return "STRING";
    case 'V':
      return "UNICODE";
    case 'F':
      return "FLOAT";
    case 'g':
      return "GET";
    case 'p':
      return "PUT";
    case '2':
      return "DUP";
    case 0x82:
      return "EXT1";
    case 0x83:
      return "EXT2";
    case 0x84:
      return "EXT4";
    case 0x8f:
      return "EMPTY_SET";
    case 0x90:
      return "ADDITEMS";
    case 0x91:
      return "FROZENSET";
    case 0x96:
      return "BYTEARRAY8";
    case 0x97:
      return "NEXT_BUFFER";
    case 0x98:
      return "READONLY_BUFFER";
    default:
      return "";
  }
}

uint64_t Le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return v;
}

}  // namespace

absl::StatusOr<uint32_t> Unpickler::Run(std::span<const uint8_t> data, size_t* pos_io) {
  size_t pos = *pos_io;
  stack_.clear();
  marks_.clear();
  memo_.clear();
  auto need = [&](size_t at, uint64_t n) -> absl::Status {
    if (data.size() - pos < n) return Error(at, "truncated pickle");
    return absl::OkStatus();
  };
  auto text = [&](size_t at, uint64_t n) -> absl::StatusOr<uint32_t> {
    if (absl::Status st = need(at, n); !st.ok()) return st;
    Object o;
    o.kind = Kind::kString;
    o.s.assign(reinterpret_cast<const char*>(&data[pos]), n);
    pos += n;
    return Push(std::move(o));
  };
  auto scalar = [&](Kind kind, int64_t v) {
    Object o;
    o.kind = kind;
    o.i = v;
    return Push(std::move(o));
  };
  auto line = [&](size_t at) -> absl::StatusOr<std::string_view> {
    for (size_t k = pos; k < data.size() && k - pos <= 256; ++k) {
      if (data[k] == '\n') {
        std::string_view s(reinterpret_cast<const char*>(&data[pos]), k - pos);
        pos = k + 1;
        return s;
      }
    }
    return Error(at, "GLOBAL without a short newline-terminated name");
  };
  auto put = [&](size_t at, uint64_t index) -> absl::Status {
    if (stack_.empty()) return Error(at, "memo store from an empty stack");
    memo_[static_cast<uint32_t>(index)] = stack_.back();
    return absl::OkStatus();
  };
  auto get = [&](size_t at, uint64_t index) -> absl::Status {
    auto it = memo_.find(static_cast<uint32_t>(index));
    if (it == memo_.end()) return Error(at, absl::StrCat("memo entry ", index, " is missing"));
    stack_.push_back(it->second);
    return absl::OkStatus();
  };
  auto tuple = [&](std::vector<uint32_t> items) {
    Object o;
    o.kind = Kind::kTuple;
    o.items = std::move(items);
    return Push(std::move(o));
  };
  auto pop_n = [&](size_t at, size_t n) -> absl::StatusOr<std::vector<uint32_t>> {
    std::vector<uint32_t> items(n);
    for (size_t k = n; k-- > 0;) {
      auto v = Pop(at);
      if (!v.ok()) return v.status();
      items[k] = *v;
    }
    return items;
  };
#define RWKV_TRY(expr)                                    \
  do {                                                    \
    if (absl::Status st_ = (expr); !st_.ok()) return st_; \
  } while (0)
#define RWKV_TRY_ASSIGN(lhs, expr)              \
  auto lhs##_or = (expr);                       \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = *std::move(lhs##_or)

  while (true) {
    const size_t at = pos;
    if (pos >= data.size()) return Error(at, "truncated pickle (no STOP)");
    const uint8_t op = data[pos++];
    switch (op) {
      case 0x80:  // PROTO
        RWKV_TRY(need(at, 1));
        if (data[pos] > 5)
          return Error(at, absl::StrCat("unsupported pickle protocol ", data[pos]));
        pos += 1;
        break;
      case 0x95:  // FRAME
        RWKV_TRY(need(at, 8));
        pos += 8;
        break;
      case '.': {  // STOP
        RWKV_TRY_ASSIGN(result, Pop(at));
        if (!marks_.empty() || !stack_.empty()) return Error(at, "STOP with leftover stack");
        *pos_io = pos;
        return result;
      }
      case '(':
        marks_.push_back(stack_.size());
        break;
      case '0': {
        RWKV_TRY_ASSIGN(v, Pop(at));
        (void)v;
        break;
      }
      case '1': {
        RWKV_TRY_ASSIGN(v, PopToMark(at));
        (void)v;
        break;
      }
      case '}': {
        Object d;
        d.kind = Kind::kDict;
        Push(std::move(d));
        break;
      }
      case 'd': {
        RWKV_TRY_ASSIGN(items, PopToMark(at));
        Object d;
        d.kind = Kind::kDict;
        const uint32_t id = Push(std::move(d));
        RWKV_TRY(SetItems(id, items, at));
        break;
      }
      case 's': {
        RWKV_TRY_ASSIGN(kv, pop_n(at, 2));
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) {
          return Error(at, "SETITEM without a dict");
        }
        RWKV_TRY(SetItems(stack_.back(), kv, at));
        break;
      }
      case 'u': {
        RWKV_TRY_ASSIGN(kv, PopToMark(at));
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) {
          return Error(at, "SETITEMS without a dict");
        }
        RWKV_TRY(SetItems(stack_.back(), kv, at));
        break;
      }
      case ')':
        tuple({});
        break;
      case 't': {
        RWKV_TRY_ASSIGN(items, PopToMark(at));
        tuple(std::move(items));
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {
        RWKV_TRY_ASSIGN(items, pop_n(at, op - 0x84));
        tuple(std::move(items));
        break;
      }
      case ']':
      case 'l': {
        std::vector<uint32_t> items;
        if (op == 'l') {
          RWKV_TRY_ASSIGN(marked, PopToMark(at));
          items = std::move(marked);
        }
        Object l;
        l.kind = Kind::kList;
        l.items = std::move(items);
        Push(std::move(l));
        break;
      }
      case 'a':
      case 'e': {
        std::vector<uint32_t> values;
        if (op == 'a') {
          RWKV_TRY_ASSIGN(v, pop_n(at, 1));
          values = std::move(v);
        } else {
          RWKV_TRY_ASSIGN(v, PopToMark(at));
          values = std::move(v);
        }
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) {
          return Error(at, "APPEND without a list");
        }
        RWKV_TRY(Append(stack_.back(), values, at));
        break;
      }
      case 'N':
        scalar(Kind::kNone, 0);
        break;
      case 0x88:
      case 0x89:
        scalar(Kind::kBool, op == 0x88 ? 1 : 0);
        break;
      case 'J':
        RWKV_TRY(need(at, 4));
        scalar(Kind::kInt, static_cast<int32_t>(Le(&data[pos], 4)));
        pos += 4;
        break;
      case 'K':
        RWKV_TRY(need(at, 1));
        scalar(Kind::kInt, data[pos]);
        pos += 1;
        break;
      case 'M':
        RWKV_TRY(need(at, 2));
        scalar(Kind::kInt, static_cast<int64_t>(Le(&data[pos], 2)));
        pos += 2;
        break;
      case 0x8a: {  // LONG1
        RWKV_TRY(need(at, 1));
        const size_t n = data[pos++];
        RWKV_TRY(need(at, n));
        if (n <= 8) {
          uint64_t v = Le(&data[pos], n);
          if (n > 0 && n < 8 && (data[pos + n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);
          scalar(Kind::kInt, static_cast<int64_t>(v));
        } else {
          Object o;
          o.kind = Kind::kBigInt;
          o.s.assign(reinterpret_cast<const char*>(&data[pos]), n);
          Push(std::move(o));
        }
        pos += n;
        break;
      }
      case 'G': {
        RWKV_TRY(need(at, 8));
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | data[pos + k];
        Object o;
        o.kind = Kind::kFloat;
        std::memcpy(&o.f, &bits, 8);
        Push(std::move(o));
        pos += 8;
        break;
      }
      case 'X':
      case 'B':
      case 'T': {
        RWKV_TRY(need(at, 4));
        const uint64_t n = Le(&data[pos], 4);
        pos += 4;
        if (op == 'T' && n > 0x7FFFFFFF) return Error(at, "negative BINSTRING length");
        RWKV_TRY(text(at, n).status());
        break;
      }
      case 0x8c:
      case 'U':
      case 'C': {
        RWKV_TRY(need(at, 1));
        const uint64_t n = data[pos++];
        RWKV_TRY(text(at, n).status());
        break;
      }
      case 0x8d:
      case 0x8e: {  // BINUNICODE8, BINBYTES8
        RWKV_TRY(need(at, 8));
        const uint64_t n = Le(&data[pos], 8);
        pos += 8;
        RWKV_TRY(text(at, n).status());
        break;
      }
      case 'q':
        RWKV_TRY(need(at, 1));
        RWKV_TRY(put(at, data[pos]));
        pos += 1;
        break;
      case 'r':
        RWKV_TRY(need(at, 4));
        RWKV_TRY(put(at, Le(&data[pos], 4)));
        pos += 4;
        break;
      case 0x94:  // MEMOIZE
        RWKV_TRY(put(at, memo_.size()));
        break;
      case 'h':
        RWKV_TRY(need(at, 1));
        RWKV_TRY(get(at, data[pos]));
        pos += 1;
        break;
      case 'j':
        RWKV_TRY(need(at, 4));
        RWKV_TRY(get(at, Le(&data[pos], 4)));
        pos += 4;
        break;
      case 'c': {
        RWKV_TRY_ASSIGN(module, line(at));
        RWKV_TRY_ASSIGN(name, line(at));
        RWKV_TRY(Global(module, name, at).status());
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        RWKV_TRY_ASSIGN(mn, pop_n(at, 2));
        if (objects_[mn[0]].kind != Kind::kString || objects_[mn[1]].kind != Kind::kString) {
          return Error(at, "STACK_GLOBAL needs two strings");
        }
        const std::string module = objects_[mn[0]].s, name = objects_[mn[1]].s;
        RWKV_TRY(Global(module, name, at).status());
        break;
      }
      case 'R': {
        RWKV_TRY_ASSIGN(fa, pop_n(at, 2));
        RWKV_TRY(Reduce(fa[0], fa[1], at).status());
        break;
      }
      case 'b': {
        RWKV_TRY_ASSIGN(state, Pop(at));
        (void)state;
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back()) ||
            objects_[stack_.back()].kind != Kind::kDict) {
          return Error(at, "refusing BUILD on anything but an OrderedDict");
        }
        break;
      }
      case 'Q': {
        RWKV_TRY_ASSIGN(pid, Pop(at));
        RWKV_TRY(PersistentLoad(pid, at).status());
        break;
      }
      default: {
        const std::string_view name = RefusedName(op);
        if (!name.empty()) {
          return Error(at, absl::StrFormat("unsupported pickle opcode %s (0x%02x)", name, op));
        }
        return Error(at, absl::StrFormat("unknown pickle opcode 0x%02x", op));
      }
    }
  }
#undef RWKV_TRY
#undef RWKV_TRY_ASSIGN
}

}  // namespace rwkv::engine::pth
