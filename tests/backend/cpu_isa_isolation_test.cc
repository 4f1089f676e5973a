// One binary runs on any x86-64: the AVX-512 kernel file is compiled with AVX-512 flags, and
// an inline helper or template it instantiates could be merged by the linker into code every
// CPU runs (a SIGILL on CPUs without AVX-512). This test disassembles its own executable,
// which links the whole engine, and requires every AVX-512 instruction to sit in a function
// of the avx512 namespace (or the table builder), where it runs only after CpuSupports, and
// every AVX-VNNI instruction (VEX vpdpbusd/vpdpwssd, which AVX-512 CPUs without AVX-VNNI lack)
// to sit in the avxvnni namespace. The same check runs on the installed programs in build/bin.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "backend/cpu/kernels.h"
#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::engine::cpu {
namespace {

bool HasRegister(std::string_view operands, std::string_view prefix, int lo, int hi) {
  for (size_t at = operands.find(prefix); at != std::string_view::npos;
       at = operands.find(prefix, at + 1)) {
    size_t end = at + prefix.size();
    int n = 0, digits = 0;
    while (end < operands.size() && operands[end] >= '0' && operands[end] <= '9' && digits < 3) {
      n = n * 10 + (operands[end++] - '0');
      ++digits;
    }
    if (digits > 0 && n >= lo && n <= hi) return true;
  }
  return false;
}

// Instructions that exist only with AVX-512 (EVEX): 512-bit or upper-16 registers, mask
// registers, embedded broadcasts, or a mnemonic with no VEX form.
bool IsAvx512(std::string_view insn) {
  if (insn.find("%zmm") != std::string_view::npos) return true;
  if (insn.find("{1to") != std::string_view::npos) return true;
  if (HasRegister(insn, "%k", 1, 7)) return true;
  if (HasRegister(insn, "%xmm", 16, 31) || HasRegister(insn, "%ymm", 16, 31)) return true;
  static constexpr std::string_view kMnemonics[] = {
      "vpternlog",    "vpermt2",      "vpermi2",     "vpdpwssd",    "vpdpbusd",     "vpmovm2",
      "vpmovb2m",     "vpmovw2m",     "vpmovd2m",    "vpmovq2m",    "vextractf32x", "vextractf64x",
      "vextracti32x", "vextracti64x", "vinsertf32x", "vinsertf64x", "vinserti32x",  "vinserti64x",
      "vshuff32x4",   "vshuff64x2",   "vshufi32x4",  "vshufi64x2",  "valignd",      "valignq",
      "vblendmp",     "vpblendm",     "vpcompress",  "vpexpand",    "vcompressp",   "vexpandp",
      "vpconflict",   "vplzcnt",      "vrndscale",   "vgetexp",     "vgetmant",     "vscalef",
      "vrangep",      "vfixupimm",    "vpabsq",      "vpmaxsq",     "vpmaxuq",      "vpminsq",
      "vpminuq",      "vpsraq",       "vpmullq",     "vpermw",      "vpsllvw",      "vpsrlvw",
      "vpsravw",      "vcvtps2udq",   "vcvttps2udq", "vcvtudq2",    "vcvtuqq2",     "vcvtqq2",
      "vcvtps2qq",    "vcvttps2qq",   "vcvtpd2qq",   "vcvttpd2qq",  "vprold",       "vprolq",
      "vprord",       "vprorq",       "vprolv",      "vprorv"};
  const size_t start = insn.find_first_not_of(" \t");
  if (start == std::string_view::npos) return false;
  const std::string_view mnemonic = insn.substr(start);
  for (std::string_view m : kMnemonics) {
    if (mnemonic.substr(0, m.size()) == m) return true;
  }
  return false;
}

// The VEX-encoded VNNI products (AVX-VNNI); objdump marks them "{vex}".
bool IsAvxVnni(std::string_view insn) {
  const size_t start = insn.find_first_not_of(" \t");
  return start != std::string_view::npos && insn.substr(start).substr(0, 10) == "{vex} vpdp";
}

struct Scan {
  bool ok = false;
  int inside = 0;                              // AVX-512 instructions in avx512 functions
  int vnni_inside = 0;                         // AVX-VNNI instructions in avxvnni functions
  std::map<std::string, std::string> outside;  // function → its first misplaced instruction
};

Scan Disassemble(const std::string& binary) {
  Scan scan;
  FILE* pipe =
      popen(("objdump -d --no-show-raw-insn -C '" + binary + "' 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return scan;
  std::string function;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) {
    std::string_view line(buffer);
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    const size_t open = line.find(" <");
    if (open != std::string_view::npos && line.size() > 2 && line.substr(line.size() - 2) == ">:") {
      function = std::string(line.substr(open + 2, line.size() - open - 4));
      continue;
    }
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    const std::string_view insn = line.substr(tab + 1);
    if (IsAvxVnni(insn)) {
      if (function.find("::avxvnni::") != std::string::npos) {
        ++scan.vnni_inside;
      } else if (scan.outside.count(function) == 0) {
        scan.outside[function] = std::string(insn);
      }
      continue;
    }
    if (!IsAvx512(insn)) continue;
    if (function.find("::avx512::") != std::string::npos ||
        function.find("FillAvx512Kernels") != std::string::npos) {
      ++scan.inside;
    } else if (scan.outside.count(function) == 0) {
      scan.outside[function] = std::string(line.substr(tab + 1));
    }
  }
  scan.ok = pclose(pipe) == 0;
  return scan;
}

void ExpectIsolated(const std::string& binary) {
  SCOPED_TRACE(binary);
  const Scan scan = Disassemble(binary);
  ASSERT_TRUE(scan.ok) << "objdump failed";
#if defined(__x86_64__)
  // The check itself works only if it recognises the AVX-512 kernels.
  EXPECT_GT(scan.inside, 100) << "no AVX-512 kernel instructions found: is the table linked?";
  EXPECT_GT(scan.vnni_inside, 10) << "no AVX-VNNI kernel instructions found";
#endif
  for (const auto& [fn, insn] : scan.outside) ADD_FAILURE() << fn << ": " << insn;
}

TEST(CpuIsaIsolationTest, Avx512InstructionsOnlyInAvx512Kernels) {
  // Links the kernel tables into this executable.
  ASSERT_NE(KernelsFor(Isa::kScalar), nullptr);
  ExpectIsolated(std::filesystem::read_symlink("/proc/self/exe").string());
}

TEST(CpuIsaIsolationTest, ProgramsKeepAvx512InTheKernels) {
  const std::string rwkv = ::rwkv::testing::BinDir() + "/rwkv";
  std::string unused;
  if (::rwkv::testing::RunCommand("{ test -x '" + rwkv + "'; }", &unused) != 0) {
    GTEST_SKIP() << rwkv << " is not built";
  }
  ExpectIsolated(rwkv);
  const std::string worker = ::rwkv::testing::BinDir() + "/rwkv-worker";
  if (::rwkv::testing::RunCommand("{ test -x '" + worker + "'; }", &unused) == 0) {
    ExpectIsolated(worker);
  }
}

}  // namespace
}  // namespace rwkv::engine::cpu
