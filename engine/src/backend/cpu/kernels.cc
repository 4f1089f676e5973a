#include "backend/cpu/kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace rwkv::engine::cpu {

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvxVnni:
      return "avxvnni";
  }
  return "unknown";
}

#if defined(__x86_64__)
namespace {

// The CPUID feature bits this engine's tables need, each also requiring that the OS saves the
// vector registers it uses (XCR0). Read directly: the compilers' __builtin_cpu_supports do not
// all know every feature (clang 14 lacks "f16c" and "avxvnni").
struct X86Features {
  bool avx2 = false;     // AVX2 + FMA + F16C, YMM state enabled
  bool avx512 = false;   // F + BW + VL + DQ + VNNI, ZMM and opmask state enabled
  bool avxvnni = false;  // VEX-encoded VNNI

  X86Features() {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28),
               f16c = c & (1u << 29);
    if (!osxsave || !avx) return;
    unsigned xcr0_lo, xcr0_hi;
    asm volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const bool ymm_state = (xcr0_lo & 0x6u) == 0x6u;
    const bool zmm_state = (xcr0_lo & 0xE6u) == 0xE6u;
    if (!ymm_state || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    avx2 = (b & (1u << 5)) && fma && f16c;
    const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31),
               vnni = c & (1u << 11);
    avx512 = avx2 && zmm_state && f && dq && bw && vl && vnni;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) avxvnni = avx2 && (a & (1u << 4));
  }
};

}  // namespace
#endif

bool CpuSupports(Isa isa) {
#if defined(__x86_64__)
  static const X86Features features;
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return features.avx2;
    case Isa::kAvx512:
      return features.avx512;
    case Isa::kAvxVnni:
      return features.avxvnni;
  }
  return false;
#else
  return isa == Isa::kScalar;
#endif
}

namespace {

struct Tables {
  KernelTable scalar;
  KernelTable avx2;
  KernelTable avx512;
  KernelTable avxvnni;
  bool have_avx2 = false;

  Tables() {
    FillScalarKernels(scalar);
    FillScalarQ8Kernels(scalar);
#if defined(RWKV_HAVE_X86_VARIANTS)
    // Every type the AVX2 table leaves unset falls back to the scalar kernel, except the 8-bit
    // products: a type without a SIMD one runs the SIMD exact kernel, which is faster than the
    // scalar 8-bit product. Q6_K is such a type: an 8-bit Q6_K product (signed bytes, the
    // half-block sub-scales applied by vpmaddwd) measured no faster than its exact kernel
    // (kernels_bench, AVX-512, 2 threads, 2048 × 2048: 1 column from memory 7.1 vs 6.3 ms,
    // 8 columns 0.95 vs 0.79 ms, 512 columns 62 vs 36 ms), so Q6_K runs exact under kFast.
    avx2 = scalar;
    for (TypeKernels& tk : avx2.types) {
      tk.dot_q8 = nullptr;
      tk.unpack_q8 = nullptr;
      tk.q8_offset = 0;
    }
    FillAvx2Kernels(avx2);
    FillAvx2Gemm(avx2);
    FillAvx2Epilogue(avx2);
    FillAvx2Q8Kernels(avx2);
    have_avx2 = true;
    avxvnni = avx2;
    FillAvxVnniQ8Kernels(avxvnni);
    // What the AVX-512 table does not replace (WKV6, the Q16 quantizer, dequantizers, panel
    // packing) stays AVX2.
    avx512 = avx2;
    FillAvx512Kernels(avx512);
    FillAvx512Q8Kernels(avx512);
#endif
  }
};

const Tables& AllTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

const KernelTable* KernelsFor(Isa isa) {
  const Tables& t = AllTables();
  switch (isa) {
    case Isa::kScalar:
      return &t.scalar;
    case Isa::kAvx2:
      return t.have_avx2 ? &t.avx2 : nullptr;
    case Isa::kAvx512:
      return t.have_avx2 ? &t.avx512 : nullptr;
    case Isa::kAvxVnni:
      return t.have_avx2 ? &t.avxvnni : nullptr;
  }
  return nullptr;
}

const KernelTable& BestKernels() {
  static const KernelTable* best = [] {
    if (CpuSupports(Isa::kAvx512)) {
      if (const KernelTable* t = KernelsFor(Isa::kAvx512)) return t;
    }
    if (CpuSupports(Isa::kAvxVnni)) {
      if (const KernelTable* t = KernelsFor(Isa::kAvxVnni)) return t;
    }
    if (CpuSupports(Isa::kAvx2)) {
      if (const KernelTable* t = KernelsFor(Isa::kAvx2)) return t;
    }
    return KernelsFor(Isa::kScalar);
  }();
  return *best;
}

}  // namespace rwkv::engine::cpu
