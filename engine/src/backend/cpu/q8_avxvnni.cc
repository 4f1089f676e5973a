// AVX-VNNI 8-bit products (Precision::kFast): the products of q8_dot_avx2.h with the VEX
// vpdpbusd, for CPUs with AVX-VNNI but no AVX-512. The rest of that table is the AVX2 one.
#define RWKV_X86_NAMESPACE avxvnni
#include "backend/cpu/kernels.h"
#include "backend/cpu/q8_dot_avx2.h"

namespace rwkv::engine::cpu {

void FillAvxVnniQ8Kernels(KernelTable& t) {
  avxvnni::q8dot::SetDotQ8(t);
  t.isa = Isa::kAvxVnni;
}

}  // namespace rwkv::engine::cpu
