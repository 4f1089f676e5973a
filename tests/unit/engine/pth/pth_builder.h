// Builds torch.save-style checkpoints in memory for tests: a pickle writer that emits the
// opcodes torch uses for state dicts, and a small zip writer (stored or deflated entries).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace rwkv::testing {

class PickleWriter {
 public:
  PickleWriter& Op(uint8_t op) {
    out_.push_back(static_cast<char>(op));
    return *this;
  }
  PickleWriter& Raw(const std::string& s) {
    out_ += s;
    return *this;
  }
  PickleWriter& Proto() { return Op(0x80).Op(2); }
  PickleWriter& Global(const std::string& module, const std::string& name) {
    return Op('c').Raw(module + "\n" + name + "\n");
  }
  PickleWriter& Mark() { return Op('('); }
  PickleWriter& Unicode(const std::string& s) {
    Op('X');
    U32(static_cast<uint32_t>(s.size()));
    return Raw(s);
  }
  PickleWriter& Int(int64_t v) {
    if (v >= 0 && v < 256) return Op('K').Op(static_cast<uint8_t>(v));
    if (v >= INT32_MIN && v <= INT32_MAX) {
      Op('J');
      return U32(static_cast<uint32_t>(v));
    }
    Op(0x8a).Op(8);
    for (int k = 0; k < 8; ++k) Op(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * k)));
    return *this;
  }
  PickleWriter& IntTuple(const std::vector<int64_t>& v) {
    Mark();
    for (int64_t x : v) Int(x);
    return Op('t');
  }
  PickleWriter& Put(uint8_t i) { return Op('q').Op(i); }
  PickleWriter& Get(uint8_t i) { return Op('h').Op(i); }
  PickleWriter& U32(uint32_t v) {
    for (int k = 0; k < 4; ++k) Op(static_cast<uint8_t>(v >> (8 * k)));
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

struct TensorSpec {
  std::string name;
  std::string storage_type = "FloatStorage";
  std::string key = "0";
  int64_t storage_numel = 0;
  int64_t offset = 0;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

// The pickle torch.save writes for an OrderedDict of tensors.
inline std::string StateDictPickle(const std::vector<TensorSpec>& tensors) {
  PickleWriter w;
  w.Proto().Global("collections", "OrderedDict").Put(0).Op(')').Op('R').Put(1).Mark();
  for (const TensorSpec& t : tensors) {
    w.Unicode(t.name).Global("torch._utils", "_rebuild_tensor_v2").Mark();
    w.Mark().Unicode("storage").Global("torch", t.storage_type).Unicode(t.key).Unicode("cpu");
    w.Int(t.storage_numel).Op('t').Op('Q');
    w.Int(t.offset).IntTuple(t.shape).IntTuple(t.stride).Op(0x89);
    w.Get(0).Op(')').Op('R').Op('t').Op('R');
  }
  w.Op('u').Op('.');
  return w.str();
}

class ZipWriter {
 public:
  void Add(const std::string& name, const std::string& data, bool deflate = false) {
    std::string stored = data;
    uint16_t method = 0;
    if (deflate) {
      stored = Deflate(data);
      method = 8;
    }
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    Entry e{name,
            method,
            crc,
            static_cast<uint32_t>(stored.size()),
            static_cast<uint32_t>(data.size()),
            static_cast<uint32_t>(body_.size())};
    U32(&body_, 0x04034b50);
    U16(&body_, 20);
    U16(&body_, 0);
    U16(&body_, method);
    U16(&body_, 0);
    U16(&body_, 0);
    U32(&body_, crc);
    U32(&body_, e.csize);
    U32(&body_, e.usize);
    U16(&body_, static_cast<uint16_t>(name.size()));
    U16(&body_, 0);
    body_ += name;
    body_ += stored;
    entries_.push_back(e);
  }
  // Overrides the declared uncompressed size in the central directory of the last entry.
  void SetLastDeclaredSize(uint32_t usize) { entries_.back().usize = usize; }
  std::string Finish() const {
    std::string out = body_;
    std::string cd;
    for (const Entry& e : entries_) {
      U32(&cd, 0x02014b50);
      U16(&cd, 20);
      U16(&cd, 20);
      U16(&cd, 0);
      U16(&cd, e.method);
      U16(&cd, 0);
      U16(&cd, 0);
      U32(&cd, e.crc);
      U32(&cd, e.csize);
      U32(&cd, e.usize);
      U16(&cd, static_cast<uint16_t>(e.name.size()));
      U16(&cd, 0);
      U16(&cd, 0);
      U16(&cd, 0);
      U16(&cd, 0);
      U32(&cd, 0);
      U32(&cd, e.offset);
      cd += e.name;
    }
    const auto cd_offset = static_cast<uint32_t>(out.size());
    out += cd;
    U32(&out, 0x06054b50);
    U16(&out, 0);
    U16(&out, 0);
    U16(&out, static_cast<uint16_t>(entries_.size()));
    U16(&out, static_cast<uint16_t>(entries_.size()));
    U32(&out, static_cast<uint32_t>(cd.size()));
    U32(&out, cd_offset);
    U16(&out, 0);
    return out;
  }

  static std::string Deflate(const std::string& data) {
    z_stream zs{};
    deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, data.size()) + 16, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
  }

 private:
  struct Entry {
    std::string name;
    uint16_t method;
    uint32_t crc, csize, usize, offset;
  };
  static void U16(std::string* s, uint16_t v) {
    s->push_back(static_cast<char>(v));
    s->push_back(static_cast<char>(v >> 8));
  }
  static void U32(std::string* s, uint32_t v) {
    U16(s, static_cast<uint16_t>(v));
    U16(s, static_cast<uint16_t>(v >> 16));
  }
  std::string body_;
  std::vector<Entry> entries_;
};

// f32 values as little-endian bytes.
inline std::string F32Bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// A complete checkpoint: archive/data.pkl + archive/data/<key> per distinct storage.
inline std::string MakeCheckpoint(const std::vector<TensorSpec>& tensors,
                                  const std::vector<std::pair<std::string, std::string>>& storages,
                                  bool deflate = false) {
  ZipWriter z;
  z.Add("archive/data.pkl", StateDictPickle(tensors), deflate);
  z.Add("archive/byteorder", "little");
  for (const auto& [key, bytes] : storages) z.Add("archive/data/" + key, bytes, deflate);
  z.Add("archive/version", "3\n");
  return z.Finish();
}

}  // namespace rwkv::testing
