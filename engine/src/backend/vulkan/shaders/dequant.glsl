// Dequantization of one chunk of 32 consecutive elements of a weight row, for the type chosen
// by the WTYPE_* define. Chunk c covers elements [32c, 32c + 32); for the float types the
// chunk may be cut short by the row length k (elements past k are zero).
// The arithmetic follows the reference decoder (engine/src/quant) operation by operation.

#if defined(WTYPE_F32) || defined(WTYPE_F16) || defined(WTYPE_BF16)
void DequantChunk(uint64_t row, int c, int k, out float w[32]) {
  for (int e = 0; e < 32; ++e) {
    const int i = c * 32 + e;
    if (i >= k) { w[e] = 0.0; continue; }
#if defined(WTYPE_F32)
    w[e] = Floats(row).v[i];
#elif defined(WTYPE_F16)
    w[e] = F16(row, 2 * i);
#else
    w[e] = BF16(row, 2 * i);
#endif
  }
}

#elif defined(WTYPE_Q4_0) || defined(WTYPE_Q4_1) || defined(WTYPE_Q5_0) || defined(WTYPE_Q5_1) || defined(WTYPE_Q8_0)
#if defined(WTYPE_Q4_0)
const int kBlockBytes = 18;
#elif defined(WTYPE_Q4_1)
const int kBlockBytes = 20;
#elif defined(WTYPE_Q5_0)
const int kBlockBytes = 22;
#elif defined(WTYPE_Q5_1)
const int kBlockBytes = 24;
#else
const int kBlockBytes = 34;
#endif
void DequantChunk(uint64_t row, int c, int k, out float w[32]) {
  const uint64_t b = row + uint64_t(c) * uint64_t(kBlockBytes);
  const float d = F16(b, 0);
#if defined(WTYPE_Q8_0)
  for (int j4 = 0; j4 < 8; ++j4) {
    const uint q4 = U32(b, 2 + 4 * j4);
    for (int t = 0; t < 4; ++t) w[4 * j4 + t] = float(SByteOf(q4, t)) * d;
  }
#elif defined(WTYPE_Q4_0)
  for (int j = 0; j < 16; ++j) {
    const uint q = ByteOf(U32(b, 2 + (j & ~3)), j & 3);
    w[j] = float(int(q & 15u) - 8) * d;
    w[j + 16] = float(int(q >> 4) - 8) * d;
  }
#elif defined(WTYPE_Q4_1)
  const float m = F16(b, 2);
  for (int j = 0; j < 16; ++j) {
    const uint q = ByteOf(U32(b, 4 + (j & ~3)), j & 3);
    w[j] = float(q & 15u) * d + m;
    w[j + 16] = float(q >> 4) * d + m;
  }
#elif defined(WTYPE_Q5_0)
  const uint qh = U32(b, 2);
  for (int j = 0; j < 16; ++j) {
    const uint q = ByteOf(U32(b, 6 + (j & ~3)), j & 3);
    const uint h0 = ((qh >> j) & 1u) << 4;
    const uint h1 = ((qh >> (j + 16)) & 1u) << 4;
    w[j] = float(int((q & 15u) | h0) - 16) * d;
    w[j + 16] = float(int((q >> 4) | h1) - 16) * d;
  }
#else  // Q5_1
  const float m = F16(b, 2);
  const uint qh = U32(b, 4);
  for (int j = 0; j < 16; ++j) {
    const uint q = ByteOf(U32(b, 8 + (j & ~3)), j & 3);
    const uint h0 = ((qh >> j) & 1u) << 4;
    const uint h1 = ((qh >> (j + 16)) & 1u) << 4;
    w[j] = float((q & 15u) | h0) * d + m;
    w[j + 16] = float((q >> 4) | h1) * d + m;
  }
#endif
}

#elif defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K)
// The 6-bit scale and min of sub-block j of the 12-byte `scales` array at q.
void ScaleMinK4(int j, uint64_t q, out uint sc, out uint m) {
  if (j < 4) {
    sc = U8(q, j) & 63u;
    m = U8(q, j + 4) & 63u;
  } else {
    sc = (U8(q, j + 4) & 15u) | ((U8(q, j - 4) >> 6) << 4);
    m = (U8(q, j + 4) >> 4) | ((U8(q, j) >> 6) << 4);
  }
}
#if defined(WTYPE_Q4_K)
const int kBlockBytes = 144;
#else
const int kBlockBytes = 176;
#endif
void DequantChunk(uint64_t row, int c, int k, out float w[32]) {
  const int is = c % 8;  // sub-block of the super-block
  const uint64_t b = row + uint64_t(c / 8) * uint64_t(kBlockBytes);
  const float d = F16(b, 0);
  const float dmin = F16(b, 2);
  uint sc, mn;
  ScaleMinK4(is, b + 4ul, sc, mn);
  const float d1 = d * float(sc);
  const float m1 = dmin * float(mn);
  const uint shift = (is % 2 == 0) ? 0u : 4u;
#if defined(WTYPE_Q4_K)
  const uint64_t qs = b + 16ul + uint64_t(32 * (is / 2));
  for (int l = 0; l < 32; ++l) w[l] = d1 * float((ByteOf(U32(qs, l & ~3), l & 3) >> shift) & 15u) - m1;
#else
  const uint64_t qh = b + 16ul;
  const uint64_t qs = b + 48ul + uint64_t(32 * (is / 2));
  const uint hbit = 1u << is;
  for (int l = 0; l < 32; ++l) {
    const uint lo = ByteOf(U32(qs, l & ~3), l & 3);
    const uint hi = ByteOf(U32(qh, l & ~3), l & 3);
    const uint q = ((lo >> shift) & 15u) + ((hi & hbit) != 0u ? 16u : 0u);
    w[l] = d1 * float(q) - m1;
  }
#endif
}

#elif defined(WTYPE_Q6_K)
void DequantChunk(uint64_t row, int c, int k, out float w[32]) {
  const uint64_t b = row + uint64_t(c / 8) * 210ul;
  const int half_ = (c % 8) / 4;  // which 128 elements
  const int quad = c % 4;         // which 32 of them
  const uint64_t ql = b + uint64_t(64 * half_);
  const uint64_t qh = b + 128ul + uint64_t(32 * half_);
  const uint64_t sc = b + 192ul + uint64_t(8 * half_);
  const float d = F16(b, 208);
  const int lo_off = (quad % 2 == 1) ? 32 : 0;
  const uint lo_shift = (quad >= 2) ? 4u : 0u;
  const uint hi_shift = uint(2 * quad);
  const float scale0 = float(I8(sc, 2 * quad));
  const float scale1 = float(I8(sc, 2 * quad + 1));
  for (int l = 0; l < 32; ++l) {
    const uint lo = ByteOf(U32(ql, (l & ~3) + lo_off), l & 3);
    const uint hi = ByteOf(U32(qh, l & ~3), l & 3);
    const int q = int(((lo >> lo_shift) & 15u) | (((hi >> hi_shift) & 3u) << 4)) - 32;
    w[l] = d * (l < 16 ? scale0 : scale1) * float(q);
  }
}
#else
#error "define one WTYPE_*"
#endif
