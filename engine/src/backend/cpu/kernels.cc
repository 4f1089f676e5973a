#include "backend/cpu/kernels.h"

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

bool CpuSupports(Isa isa) {
#if defined(__x86_64__)
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
    case Isa::kAvxVnni:
      return CpuSupports(Isa::kAvx2) && __builtin_cpu_supports("avxvnni");
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
    // Every type the AVX2 table leaves unset falls back to the scalar kernel.
    avx2 = scalar;
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
