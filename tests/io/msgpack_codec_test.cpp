// The msgpack codec against bytes derived by hand from the msgpack spec and Flax's array payload
// (packb((shape, dtype.name, bytes), use_bin_type=True) inside ext 1 / ext 3), and against hostile
// inputs. Python's msgpack always picks the smallest encoding; each pin below names the one chosen.
#include <gtest/gtest.h>

#include <cmath>

#include "io/io_test_helpers.hpp"
#include "kiln/serialization.hpp"

namespace kiln {
namespace {

using serialization::decode;
using serialization::encode;
using serialization::StateValue;
using testing_io::error_of;
using testing_io::hex;
using testing_io::int_value;
using testing_io::map_of;
using testing_io::to_hex;

using testing_io::array_value;

StateValue float_value(double f, bool single = false) {
  StateValue v;
  v.kind = StateValue::Kind::floating;
  v.f = f;
  v.f_single = single;
  return v;
}

StateValue string_value(std::string s) {
  StateValue v;
  v.kind = StateValue::Kind::string;
  v.s = std::move(s);
  return v;
}

TEST(MsgpackCodec, Float32VectorInAMap) {
  // {"a": float32 [1, 2]}: fixmap 1 (81), fixstr "a" (a1 61), then ext 1 of a 21-byte payload —
  // not a fixext size, so ext8 (c7 15 01). Payload: fixarray 3 (93), shape fixarray [2] (91 02),
  // fixstr 'float32' (a7 ...), bin8 of 8 bytes (c4 08), 1.0f and 2.0f little-endian.
  auto v = map_of({{"a", array_value(testing_io::f32({1, 2}, {2}))}});
  EXPECT_EQ(to_hex(encode(v)),
            to_hex(hex("81 a1 61 c7 15 01 93 91 02 a7 'float32' c4 08 00 00 80 3f 00 00 00 40")));
}

TEST(MsgpackCodec, IntegralFloatsStayFloats) {
  // Python's msgpack writes every float as ca/cb, integral or not; msgpack-c++'s packer would write
  // 1.0 as the int 01 (found by fuzz/msgpack_decode_fuzzer). Each of these must re-encode as read.
  for (const char* bytes : {"81 a1 61 cb 3f f0 00 00 00 00 00 00",  // {"a": 1.0}
                            "81 a1 61 cb 80 00 00 00 00 00 00 00",  // {"a": -0.0}
                            "81 a1 61 ca 5f 80 00 00",              // {"a": float32 2**64}
                            "81 a1 6c 81 a1 64 ca 5e 6b 65 80"}) {  // {"l": {"d": float32 4.24e18}}
    auto in = hex(bytes);
    EXPECT_EQ(to_hex(encode(decode(in))), to_hex(in)) << bytes;
  }
}

TEST(MsgpackCodec, ZeroDimInt32IsExt8OfFourteenBytes) {
  // As the notes record for a jitted `step`: shape () is an empty fixarray (90); 1+1+6+2+4 = 14.
  auto v = array_value(testing_io::i32({2280}, {}));
  EXPECT_EQ(to_hex(encode(v)), to_hex(hex("c7 0e 01 93 90 a5 'int32' c4 04 e8 08 00 00")));
}

TEST(MsgpackCodec, SixteenBytePayloadIsFixext16) {
  // A 0-d float32: 1+1+8+2+4 = 16 bytes, exactly fixext16 (d8). As an ndarray ext 1; as a numpy
  // scalar ext 3, which is the `d8 03 93 90 a7 'float32' c4 04 ...` the notes observed.
  Array one = testing_io::f32({1.0f}, {});
  EXPECT_EQ(to_hex(encode(array_value(one))),
            to_hex(hex("d8 01 93 90 a7 'float32' c4 04 00 00 80 3f")));
  EXPECT_EQ(to_hex(encode(array_value(one, StateValue::Kind::scalar))),
            to_hex(hex("d8 03 93 90 a7 'float32' c4 04 00 00 80 3f")));
}

TEST(MsgpackCodec, LargeArraysUseBin16AndExt16) {
  // 300 uint8: shape [300] is fixarray 1 + uint16 (91 cd 01 2c); data is bin16 (c5 01 2c).
  // Payload 1 + 4 + 6 + 3 + 300 = 314 = 0x13a bytes: ext16 (c8 01 3a 01).
  std::vector<uint8_t> data(300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  auto bytes = encode(array_value(Array::from_data<uint8_t>(data, {300})));
  std::vector<uint8_t> head(bytes.begin(), bytes.begin() + 18);
  EXPECT_EQ(to_hex(head), to_hex(hex("c8 01 3a 01 93 91 cd 01 2c a5 'uint8' c5 01 2c")));
  ASSERT_EQ(bytes.size(), 4u + 314u);
  EXPECT_EQ(bytes[18], 0);
  EXPECT_EQ(bytes.back(), 299 % 256);
}

TEST(MsgpackCodec, HugeArraysUseBin32AndExt32) {
  // 70000 bytes: bin32 (c6) and a payload over 65535 bytes: ext32 (c9).
  std::vector<uint8_t> data(70000, 7);
  auto bytes = encode(array_value(Array::from_data<uint8_t>(data, {70000})));
  // Payload: 93, 91 ce 00 01 11 70 (uint32 70000), a5 'uint8', c6 00 01 11 70, data.
  size_t payload = 1 + 6 + 6 + 5 + 70000;  // 0x11182
  EXPECT_EQ(bytes.size(), 6 + payload);
  std::vector<uint8_t> head(bytes.begin(), bytes.begin() + 24);
  EXPECT_EQ(to_hex(head),
            to_hex(hex("c9 00 01 11 82 01 93 91 ce 00 01 11 70 a5 'uint8' c6 00 01 11 70")));
}

TEST(MsgpackCodec, NativeValuesUseTheSmallestEncoding) {
  EXPECT_EQ(to_hex(encode(StateValue{})), "c0");
  StateValue t;
  t.kind = StateValue::Kind::boolean;
  t.b = true;
  EXPECT_EQ(to_hex(encode(t)), "c3");
  // Non-negative ints: fixint, then the uint family (cc..cf); negative: fixint, then d0..d3.
  EXPECT_EQ(to_hex(encode(int_value(0))), "00");
  EXPECT_EQ(to_hex(encode(int_value(127))), "7f");
  EXPECT_EQ(to_hex(encode(int_value(128))), "cc 80");
  EXPECT_EQ(to_hex(encode(int_value(300))), "cd 01 2c");
  EXPECT_EQ(to_hex(encode(int_value(70000))), "ce 00 01 11 70");
  EXPECT_EQ(to_hex(encode(int_value(int64_t{1} << 32))), "cf 00 00 00 01 00 00 00 00");
  EXPECT_EQ(to_hex(encode(int_value(-1))), "ff");
  EXPECT_EQ(to_hex(encode(int_value(-32))), "e0");
  EXPECT_EQ(to_hex(encode(int_value(-33))), "d0 df");
  EXPECT_EQ(to_hex(encode(int_value(-129))), "d1 ff 7f");
  EXPECT_EQ(to_hex(encode(int_value(-40000))), "d2 ff ff 63 c0");
  StateValue big;
  big.kind = StateValue::Kind::integer;
  big.i_unsigned = true;
  big.u = 0xffffffffffffffffull;
  EXPECT_EQ(to_hex(encode(big)), "cf ff ff ff ff ff ff ff ff");
  // A Python float is float64 (cb); a float32 read from a file stays float32 (ca).
  EXPECT_EQ(to_hex(encode(float_value(0.5))), "cb 3f e0 00 00 00 00 00 00");
  EXPECT_EQ(to_hex(encode(float_value(0.5, true))), "ca 3f 00 00 00");
}

TEST(MsgpackCodec, StringAndMapLengthsPickFixThenSizedForms) {
  // 31 bytes is the last fixstr (bf); 32 is str8 (d9 20); 256 is str16 (da 01 00).
  EXPECT_EQ(encode(string_value(std::string(31, 'x')))[0], 0xbf);
  auto s32 = encode(string_value(std::string(32, 'x')));
  EXPECT_EQ(to_hex({s32[0], s32[1]}), "d9 20");
  auto s256 = encode(string_value(std::string(256, 'x')));
  EXPECT_EQ(to_hex({s256[0], s256[1], s256[2]}), "da 01 00");
  // 15 entries is the last fixmap (8f); 16 is map16 (de 00 10). Keys are str too: str8 for long
  // ones.
  std::vector<std::pair<std::string, StateValue>> entries;
  for (int i = 0; i < 15; ++i) entries.emplace_back(std::to_string(i), StateValue{});
  EXPECT_EQ(encode(map_of(entries))[0], 0x8f);
  entries.emplace_back(std::string(40, 'k'), StateValue{});
  auto m16 = encode(map_of(entries));
  EXPECT_EQ(to_hex({m16[0], m16[1], m16[2]}), "de 00 10");
  EXPECT_EQ(to_hex({m16[3], m16[4]}), "a1 30");
  size_t last_key = m16.size() - 1 - 40 - 2;
  EXPECT_EQ(to_hex({m16[last_key], m16[last_key + 1]}), "d9 28");
}

TEST(MsgpackCodec, DecodeKeepsWhatReencodingNeeds) {
  // Key order, ext 1 vs ext 3, float32 vs float64, ints of every width, nil and bools.
  auto bytes =
      hex("88 a1 7a c3 a1 61 d8 03 93 90 a7 'float32' c4 04 00 00 80 3f a1 62 ca 3f 00 00 00 a1 63 "
          "cb 3f e0 00 00 00 00 00 00"
          " a1 64 cd 01 2c a1 65 d0 df a1 66 c0 a1 67 cf ff ff ff ff ff ff ff ff");
  StateValue v = decode(bytes);
  ASSERT_EQ(v.kind, StateValue::Kind::map);
  ASSERT_EQ(v.map->entries.size(), 8u);
  EXPECT_EQ(v.map->entries[0].first, "z");
  EXPECT_EQ(v.map->entries[1].second.kind, StateValue::Kind::scalar);
  EXPECT_EQ(v.map->entries[1].second.array.item<float>(), 1.0f);
  EXPECT_TRUE(v.map->entries[2].second.f_single);
  EXPECT_FALSE(v.map->entries[3].second.f_single);
  EXPECT_EQ(v.map->entries[4].second.i, 300);
  EXPECT_EQ(v.map->entries[5].second.i, -33);
  EXPECT_TRUE(v.map->entries[7].second.i_unsigned);
  EXPECT_EQ(v.map->entries[7].second.u, 0xffffffffffffffffull);
  EXPECT_EQ(to_hex(encode(v)), to_hex(bytes));
}

TEST(MsgpackCodec, DecodesArrayPayloads) {
  auto v = decode(hex("c7 16 01 93 92 01 02 a7 'float32' c4 08 00 00 80 3f 00 00 00 40"));
  ASSERT_EQ(v.kind, StateValue::Kind::array);
  EXPECT_EQ(v.array.shape(), (Shape{1, 2}));
  EXPECT_EQ(v.array.dtype(), float32);
  EXPECT_EQ(v.array.to_vector<float>(), (std::vector<float>{1, 2}));
  // Flax reads the payload with raw=True, so a dtype name written as bin is accepted too.
  auto b = decode(hex("c7 0f 01 93 90 c4 05 'int32' c4 04 05 00 00 00"));
  EXPECT_EQ(b.array.item<int32_t>(), 5);
}

// ---- hostile and broken inputs ----

TEST(MsgpackCodec, TruncatedInputNamesTheSourceAndOffset) {
  auto whole = encode(map_of({{"a", array_value(testing_io::f32({1, 2}, {2}))}}));
  ASSERT_EQ(whole.size(), 27u);
  std::vector<uint8_t> bytes(whole.begin(), whole.begin() + 24);
  std::string msg = error_of([&] { decode(bytes, "ckpt.msgpack"); });
  // The parser stops at the ext's type byte (offset 5), waiting for the 22 bytes it declares.
  EXPECT_NE(msg.find("ckpt.msgpack, byte offset 5:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // Cut inside the top-level map, between entries.
  std::string msg2 = error_of([&] { decode(hex("82 a1 61 c0"), "f"); });
  EXPECT_NE(msg2.find("f, byte offset 4: truncated"), std::string::npos) << msg2;
  EXPECT_NE(error_of([&] { decode({}, "empty.msgpack"); }).find("empty.msgpack"),
            std::string::npos);
}

TEST(MsgpackCodec, NotMsgpackIsRejectedWithTheOffendingByte) {
  std::string msg = error_of([&] { decode(hex("81 a1 61 c1"), "x.bin"); });
  EXPECT_EQ(msg, "x.bin, byte offset 3: byte 0xc1 is not a msgpack type (is this a msgpack file?)");
  // Text is a run of fixints: one value and then bytes that do not belong to it.
  std::string text = error_of([&] { decode(hex("'hello'"), "notes.txt"); });
  EXPECT_EQ(text, "notes.txt, byte offset 1: 4 unexpected bytes after the end of the input");
}

TEST(MsgpackCodec, HugeDeclaredLengthsAllocateNothing) {
  // str32 / bin32 / ext32 declaring 4 GiB with a few bytes present: the parser waits for bytes
  // that never come; the error says where.
  std::string s = error_of([&] { decode(hex("81 a1 61 db ff ff ff ff 61"), "s"); });
  EXPECT_NE(s.find("s, byte offset 8: truncated"), std::string::npos) << s;
  std::string e = error_of([&] { decode(hex("c9 ff ff ff ff 01 93"), "e"); });
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  // map32 declaring 4 billion entries is refused at its header (the parser stops on its last byte).
  std::string m = error_of([&] { decode(hex("df ff ff ff ff a1 61 c0"), "m"); });
  EXPECT_EQ(m,
            "m, byte offset 4: a map declares 4294967295 entries but the whole input is 8 bytes");
  // A payload whose shape claims 2**62 x 2**62 elements: the byte count check refuses it.
  std::string big = error_of([&] {
    decode(hex("c7 1c 01 93 92 cf 40 00 00 00 00 00 00 00 cf 40 00 00 00 00 00 00 00 a5 'uint8' c4 "
               "00"),
           "big");
  });
  EXPECT_NE(big.find("needs more than 2**64"), std::string::npos) << big;
  // A shape of 1000 x 1000 with 4 bytes of data.
  std::string small = error_of([&] {
    decode(hex("c7 16 01 93 92 cd 03 e8 cd 03 e8 a7 'float32' c4 04 00 00 00 00"), "small");
  });
  EXPECT_EQ(small,
            "small, byte offset 21: array data holds 4 bytes but float32[1000,1000] needs 4000000");
}

std::vector<uint8_t> nested_maps(int depth) {
  std::vector<uint8_t> b;
  for (int i = 0; i < depth; ++i) {
    b.push_back(0x81);
    b.push_back(0xa1);
    b.push_back('a');
  }
  b.push_back(0xc0);
  return b;
}

TEST(MsgpackCodec, NestingIsCappedAt64Levels) {
  // 64 maps around a nil decode (and encode back); a 65th level is refused at its header, the
  // fixmap at 64 * 3 = 192.
  auto ok = nested_maps(63);
  ok.insert(ok.begin(), {0x81, 0xa1, 'a'});
  EXPECT_EQ(encode(decode(ok)), ok);
  std::string msg = error_of([&] { decode(nested_maps(65), "deep"); });
  EXPECT_EQ(msg, "deep, byte offset 192: maps nested deeper than 64 levels");
  // Far deeper inputs stop at the same place without recursing.
  EXPECT_NE(error_of([&] { decode(nested_maps(100000), "deeper"); }).find("deeper than 64"),
            std::string::npos);
}

TEST(MsgpackCodec, UnsupportedAndUnknownDtypesAreNamed) {
  std::string f8 =
      error_of([&] { decode(hex("c7 13 01 93 90 ad 'float8_e4m3fn' c4 01 00"), "w"); });
  EXPECT_EQ(f8,
            "w, byte offset 3: array of dtype 'float8_e4m3fn': kiln does not support that "
            "dtype yet");
  std::string i4 = error_of([&] { decode(hex("c7 0a 01 93 90 a4 'int4' c4 01 00"), "w"); });
  EXPECT_NE(i4.find("'int4': kiln does not support that dtype yet"), std::string::npos) << i4;
  std::string bogus =
      error_of([&] { decode(hex("c7 0c 01 93 90 a3 'foo' c4 04 00 00 00 00"), "w"); });
  EXPECT_NE(bogus.find("w, byte offset 3: array of unknown dtype 'foo'"), std::string::npos)
      << bogus;
}

// ---- the dtypes added for Flax compatibility: int16, uint16, uint64, complex64, complex128 ----

// {"i16": int16[1, -2] (ext 1), "u16": uint16 scalar 65535 (ext 3), "u64": uint64[2**64 - 1]
// (ext 1), "u64s": uint64 scalar 7 (ext 3), "c64": complex64[1+2j] (ext 1), "c128": complex128
// scalar 0.5-1j (ext 3), "i16s": int16 scalar -1 (ext 3), "z": the Python complex 1+2j (ext 2)},
// written out as Python's msgpack packs what Flax hands it: each payload is packb((shape,
// dtype.name, bytes)), its length picks the ext header (fixext only for 1/2/4/8/16 bytes).
const char* kNewDtypesFile =
    "88"
    // payload 93 91 02 a5 'int16' c4 04 + 4 bytes = 15 bytes: ext8 (c7 0f 01)
    " a3 'i16' c7 0f 01 93 91 02 a5 'int16' c4 04 01 00 fe ff"
    // 93 90 a6 'uint16' c4 02 ff ff = 13 bytes
    " a3 'u16' c7 0d 03 93 90 a6 'uint16' c4 02 ff ff"
    // 93 91 01 a6 'uint64' c4 08 + 8 = 20 bytes
    " a3 'u64' c7 14 01 93 91 01 a6 'uint64' c4 08 ff ff ff ff ff ff ff ff"
    // 93 90 a6 'uint64' c4 08 + 8 = 19 bytes
    " a4 'u64s' c7 13 03 93 90 a6 'uint64' c4 08 07 00 00 00 00 00 00 00"
    // complex64: real then imaginary float32, little-endian: 1.0 = 00 00 80 3f, 2.0 = 00 00 00 40
    " a3 'c64' c7 17 01 93 91 01 a9 'complex64' c4 08 00 00 80 3f 00 00 00 40"
    // complex128 scalar: 0.5 = 00..e0 3f, -1.0 = 00..f0 bf; 93 90 aa 'complex128' c4 10 + 16 = 31
    " a4 'c128' c7 1f 03 93 90 aa 'complex128' c4 10 00 00 00 00 00 00 e0 3f"
    " 00 00 00 00 00 00 f0 bf"
    // 93 90 a5 'int16' c4 02 ff ff = 12 bytes
    " a4 'i16s' c7 0c 03 93 90 a5 'int16' c4 02 ff ff"
    // packb((1.0, 2.0)): 92 cb 3ff0000000000000 cb 4000000000000000 = 19 bytes
    " a1 'z' c7 13 02 92 cb 3f f0 00 00 00 00 00 00 cb 40 00 00 00 00 00 00 00";

TEST(MsgpackCodec, NewDtypesDecodeFromHandBuiltBytesAndEncodeBackExactly) {
  auto bytes = hex(kNewDtypesFile);
  StateValue v = decode(bytes, "new.msgpack");
  ASSERT_EQ(v.map->entries.size(), 8u);
  auto entry = [&](size_t i) -> const StateValue& { return v.map->entries[i].second; };

  EXPECT_EQ(entry(0).kind, StateValue::Kind::array);
  EXPECT_EQ(entry(0).array.dtype(), int16);
  EXPECT_EQ(entry(0).array.to_vector<int16_t>(), (std::vector<int16_t>{1, -2}));
  EXPECT_EQ(entry(1).kind, StateValue::Kind::scalar);
  EXPECT_EQ(entry(1).array.dtype(), uint16);
  EXPECT_EQ(entry(1).array.ndim(), 0);
  EXPECT_EQ(entry(1).array.item<uint16_t>(), 65535);
  EXPECT_EQ(entry(2).array.dtype(), uint64);
  EXPECT_EQ(entry(2).array.to_vector<uint64_t>(),
            (std::vector<uint64_t>{std::numeric_limits<uint64_t>::max()}));
  EXPECT_EQ(entry(3).kind, StateValue::Kind::scalar);
  EXPECT_EQ(entry(3).array.item<uint64_t>(), 7u);
  EXPECT_EQ(entry(4).array.dtype(), complex64);
  EXPECT_EQ(entry(4).array.to_vector<std::complex<float>>(),
            (std::vector<std::complex<float>>{{1.f, 2.f}}));
  EXPECT_EQ(entry(5).kind, StateValue::Kind::scalar);
  EXPECT_EQ(entry(5).array.dtype(), complex128);
  EXPECT_EQ(entry(5).array.item<std::complex<double>>(), std::complex<double>(0.5, -1.0));
  EXPECT_EQ(entry(6).array.item<int16_t>(), -1);
  EXPECT_EQ(entry(7).kind, StateValue::Kind::complex);
  EXPECT_EQ(entry(7).f, 1.0);
  EXPECT_EQ(entry(7).imag, 2.0);

  EXPECT_EQ(to_hex(encode(v)), to_hex(bytes));
}

TEST(MsgpackCodec, NewDtypeArraysEncodeAsFlaxWritesThem) {
  // Each array alone, from a kiln Array: the same ext 1 bytes as in the file above.
  auto one = [](Array a) { return to_hex(encode(array_value(std::move(a)))); };
  EXPECT_EQ(one(Array::from_data<int16_t>(std::vector<int16_t>{1, -2}, {2})),
            to_hex(hex("c7 0f 01 93 91 02 a5 'int16' c4 04 01 00 fe ff")));
  EXPECT_EQ(one(Array::from_data<uint16_t>(std::vector<uint16_t>{65535}, {1})),
            to_hex(hex("c7 0e 01 93 91 01 a6 'uint16' c4 02 ff ff")));
  EXPECT_EQ(
      one(Array::from_data<std::complex<float>>(std::vector<std::complex<float>>{{1.f, 2.f}}, {1})),
      to_hex(hex("c7 17 01 93 91 01 a9 'complex64' c4 08 00 00 80 3f 00 00 00 40")));
  // A Python complex on its own: ext 2 holding packb((real, imag)).
  StateValue z;
  z.kind = StateValue::Kind::complex;
  z.f = -0.0;
  z.imag = 0.25;
  EXPECT_EQ(to_hex(encode(z)),
            to_hex(hex("c7 13 02 92 cb 80 00 00 00 00 00 00 00 cb 3f d0 00 00 00 00 00 00")));
}

TEST(MsgpackCodec, PythonComplexPayloadsAreChecked) {
  // Parts packed as float32 or ints still read (msgpack.unpackb would), and re-encode as the
  // float64s Python writes for a complex.
  StateValue v = decode(hex("c7 07 02 92 ca 3f c0 00 00 05"), "w");
  EXPECT_EQ(v.kind, StateValue::Kind::complex);
  EXPECT_EQ(v.f, 1.5);
  EXPECT_EQ(v.imag, 5.0);
  EXPECT_EQ(error_of([&] { decode(hex("c7 0a 02 91 cb 3f f0 00 00 00 00 00 00"), "w"); }),
            "w, byte offset 3: complex payload is a 1-element array; Flax writes [real, imag]");
  EXPECT_NE(error_of([&] {
              decode(hex("d5 02 92 c0"), "w");
            }).find("unexpected nil in a complex payload (expected [real, imag])"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decode(hex("c7 05 02 92 cb 3f f0 00"), "w"); }).find("truncated"),
            std::string::npos);
}

TEST(MsgpackCodec, StructuralProblemsAreNamed) {
  EXPECT_NE(error_of([&] { decode(hex("92 01 02"), "a"); }).find("a msgpack array"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decode(hex("81 01 c0"), "k"); }).find("map key that is not a string"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decode(hex("d4 07 00"), "x"); }).find("unknown msgpack ext type 7"),
            std::string::npos);
  // A payload that is not [shape, dtype, bytes].
  EXPECT_NE(error_of([&] { decode(hex("c7 02 01 91 90"), "p"); }).find("1-element array"),
            std::string::npos);
  std::string neg = error_of([&] { decode(hex("c7 0b 01 93 91 ff a5 'uint8' c4 00"), "p"); });
  EXPECT_NE(neg.find("negative dimension -1"), std::string::npos) << neg;
  std::string rank9 = error_of(
      [&] { decode(hex("c7 14 01 93 99 01 01 01 01 01 01 01 01 01 a5 'uint8' c4 01 00"), "p"); });
  EXPECT_NE(rank9.find("rank 9"), std::string::npos) << rank9;
  // Truncation inside a payload is reported at the payload's end, in file offsets.
  std::string inner = error_of([&] { decode(hex("c7 0b 01 93 90 a5 'int32' c4 04 00"), "p"); });
  EXPECT_NE(inner.find("p, byte offset 13: truncated: the ext 1 payload at byte offset 3"),
            std::string::npos)
      << inner;
}

TEST(MsgpackCodec, EveryTruncationAndByteChangeFailsCleanly) {
  // A small state dict with every value kind: each proper prefix must fail with a kiln::Error, and
  // each single-byte change must either decode or fail with one (never crash or throw another
  // type).
  auto v = map_of(
      {{"w", array_value(testing_io::f32({1, 2, 3}, {3}))},
       {"s", array_value(testing_io::i32({7}, {}), StateValue::Kind::scalar)},
       {"n", map_of({{"i", int_value(-300)}, {"f", float_value(0.25)}, {"x", StateValue{}}})},
       {"t", string_value("text")}});
  const auto bytes = encode(v);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_THROW(decode(prefix), Error) << "prefix of " << n << " bytes";
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int delta : {1, 0x20, 0x80, 0xff}) {
      auto changed = bytes;
      changed[i] = static_cast<uint8_t>(changed[i] + delta);
      try {
        (void)encode(decode(changed));
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " + " << delta << ": " << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace kiln
