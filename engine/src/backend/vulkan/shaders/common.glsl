// Shared declarations: every operand is a buffer device address passed in push constants.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require

layout(buffer_reference, std430, buffer_reference_align = 4) buffer Floats { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer Ints { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer Words { uint v[]; };

float LoadF(uint64_t addr, int i) { return Floats(addr).v[i]; }
void StoreF(uint64_t addr, int i, float value) { Floats(addr).v[i] = value; }
// Address of element `col` of row `row` of an f32 matrix `stride` floats apart.
uint64_t RowAddr(uint64_t base, int row, int stride) { return base + uint64_t(row) * uint64_t(stride) * 4ul; }

// Bytes are read from the aligned 32-bit words that hold them (no 8-bit storage needed; every
// buffer is a whole number of words, and a word is only read when one of its bytes is wanted).
uint Word(uint64_t aligned) { return Words(aligned).v[0]; }
uint U8(uint64_t addr, int i) {
  const uint64_t a = addr + uint64_t(i);
  return (Word(a & ~3ul) >> (uint(a & 3ul) * 8u)) & 255u;
}
int I8(uint64_t addr, int i) { return bitfieldExtract(int(U8(addr, i)), 0, 8); }
// Four little-endian bytes at any alignment.
uint U32(uint64_t addr, int i) {
  const uint64_t a = addr + uint64_t(i);
  const uint shift = uint(a & 3ul) * 8u;
  const uint lo = Word(a & ~3ul);
  return shift == 0u ? lo : (lo >> shift) | (Word((a & ~3ul) + 4ul) << (32u - shift));
}
uint U16(uint64_t addr, int i) {
  const uint64_t a = addr + uint64_t(i);
  const uint shift = uint(a & 3ul) * 8u;
  const uint lo = Word(a & ~3ul);
  return shift <= 16u ? (lo >> shift) & 65535u : (lo >> 24) | ((Word((a & ~3ul) + 4ul) & 255u) << 8);
}
// Byte b (0..3) of a word, unsigned and signed.
uint ByteOf(uint w, int b) { return (w >> (8 * b)) & 255u; }
int SByteOf(uint w, int b) { return bitfieldExtract(int(w), 8 * b, 8); }
float F16(uint64_t addr, int i) { return unpackHalf2x16(U16(addr, i)).x; }
float BF16(uint64_t addr, int i) { return uintBitsToFloat(U16(addr, i) << 16); }
