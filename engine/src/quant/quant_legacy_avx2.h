// AVX2 + FMA legacy quantizers, byte-identical to the scalar ones in quant_legacy.cc in
// either FmaMode, which dispatch to them when the CPU has AVX2 and FMA. Defined only
// where RWKV_HAVE_X86_VARIANTS.
#pragma once

#include <cstdint>

#include "rwkv/engine/quant.h"

namespace rwkv::engine::quant {

// Whether this build has the AVX2 quantizers and this CPU can run them; decided once.
bool HaveAvx2Quantizers();

void QuantizeRowQ4_0Avx2(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ4_1Avx2(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ5_0Avx2(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ5_1Avx2(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ8_0Avx2(const float* x, void* y, int64_t n);

}  // namespace rwkv::engine::quant
