// safetensors: the byte layout (pinned against bytes worked out by hand from the format), round
// trips of every dtype, the reference writer's order, trees, and a reader that refuses bad files
// with a kiln::Error naming the file, the byte or tensor, and the problem.
#include <gtest/gtest.h>

#include <complex>
#include <cstring>
#include <filesystem>

#include "io/io_test_helpers.hpp"
#include "kiln/safetensors.hpp"

namespace kiln {
namespace {

using testing_io::error_of;
using testing_io::hex;
using testing_io::to_hex;

template <class T>
Array arr(std::vector<T> v, Shape s) {
  if constexpr (std::is_same_v<T, bool>) {
    // std::vector<bool> packs bits, so bools go in as bytes.
    std::vector<uint8_t> bytes(v.begin(), v.end());
    return Array::from_bytes(bytes.data(), bytes.size(), DType::bool_, s);
  } else {
    return Array::from_data<T>(std::span<const T>(v), s);
  }
}

std::vector<uint8_t> bytes_of(const Array& a) {
  std::vector<uint8_t> out(static_cast<size_t>(a.size()) * itemsize(a.dtype()));
  if (!out.empty()) a.copy_to_host(out.data(), a.dtype());
  return out;
}

// A file from a header text and a data buffer, the length prefix computed.
std::vector<uint8_t> file_of(const std::string& header, std::vector<uint8_t> data = {}) {
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data.size());
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  for (char c : header) out.push_back(static_cast<uint8_t>(c));
  for (uint8_t b : data) out.push_back(b);
  return out;
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  return error_of([&] { safetensors::decode(bytes, "bad.safetensors"); });
}

TEST(Safetensors, PinnedBytesOfATinyFile) {
  // Worked out from the format: the JSON is 138 bytes, padded with 6 spaces to 144 (0x90); F32
  // sorts before U8 (wider alignment first); w = [1.0, -2.0] little-endian, then m = [1, 2, 3].
  safetensors::File f;
  f.tensors = {{"m", arr<uint8_t>({1, 2, 3}, {3})}, {"w", arr<float>({1.0f, -2.0f}, {2})}};
  f.metadata = safetensors::Metadata{{"format", "pt"}};
  auto expected =
      hex("90 00 00 00 00 00 00 00"
          "'{\"__metadata__\":{\"format\":\"pt\"},"
          "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"m\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}'"
          "20 20 20 20 20 20"
          "00 00 80 3f 00 00 00 c0"
          "01 02 03");
  EXPECT_EQ(to_hex(safetensors::encode(f)), to_hex(expected));

  auto back = safetensors::decode(expected, "tiny.safetensors");
  ASSERT_EQ(back.tensors.size(), 2u);
  EXPECT_EQ(back.tensors[0].first, "w");  // file order
  EXPECT_EQ(back.tensors[0].second.to_vector<float>(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(back.tensors[1].first, "m");
  EXPECT_EQ(back.tensors[1].second.dtype(), DType::uint8);
  ASSERT_TRUE(back.metadata.has_value());
  EXPECT_EQ(*back.metadata, (safetensors::Metadata{{"format", "pt"}}));
}

TEST(Safetensors, PaddingKeepsTheBufferEightByteAligned) {
  // A 65-byte header gets 7 spaces: the buffer starts at 8 + 72 = 80.
  safetensors::File f;
  f.tensors = {{"attn0", arr<float>({0, 1, 2, 3, 4, 5}, {1, 1, 2, 3})}};
  auto b = safetensors::encode(f);
  ASSERT_EQ(b.size(), 8u + 72 + 24);
  EXPECT_EQ(b[0], 72);
  std::string header(b.begin() + 8, b.begin() + 80);
  EXPECT_EQ(header,
            "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ");
  // No tensors at all: "{}" and 6 spaces.
  EXPECT_EQ(to_hex(safetensors::encode({})), "08 00 00 00 00 00 00 00 7b 7d 20 20 20 20 20 20");
}

TEST(Safetensors, RoundTripOfEveryDtype) {
  safetensors::File f;
  f.tensors = {
      {"b", arr<bool>({true, false, true}, {3})},
      {"u8", arr<uint8_t>({0, 7, 255}, {3})},
      {"u32", arr<uint32_t>({0, 1, 4294967295u}, {3})},
      {"i8", arr<int8_t>({-128, 0, 127}, {3})},
      {"i32", arr<int32_t>({-5, 6, 2147483647}, {1, 3})},
      {"i64", arr<int64_t>({-9000000000000000000, 1}, {2})},
      {"bf", arr<bf16>({to_bf16(1.5f), to_bf16(-3.0f)}, {2, 1})},
      {"h", arr<f16>({to_f16(0.25f), to_f16(65504.0f)}, {2})},
      {"f", arr<float>({1e-30f, -0.0f, 3.25f, 7}, {2, 2})},
      {"d", arr<double>({1.0 / 3, -1e300}, {2})},
      {"i16", arr<int16_t>({-32768, 1, 32767}, {3})},
      {"u16", arr<uint16_t>({0, 65535}, {1, 2})},
      {"u64", arr<uint64_t>({18446744073709551615ull, 3}, {2})},
      {"c64", arr<std::complex<float>>({{1, -2}, {0.5f, 4}}, {2})},
      {"scalar", arr<float>({42}, {})},
      {"empty", arr<float>({}, {0, 3})},
  };
  auto bytes = safetensors::encode(f);
  auto back = safetensors::decode(bytes);
  ASSERT_EQ(back.tensors.size(), f.tensors.size());
  EXPECT_FALSE(back.metadata.has_value());
  for (const auto& [name, a] : f.tensors) {
    auto it = std::find_if(back.tensors.begin(), back.tensors.end(),
                           [&](const auto& t) { return t.first == name; });
    ASSERT_NE(it, back.tensors.end()) << name;
    EXPECT_EQ(it->second.dtype(), a.dtype()) << name;
    EXPECT_EQ(it->second.shape(), a.shape()) << name;
    EXPECT_EQ(bytes_of(it->second), bytes_of(a)) << name;
  }
  // Read and written again, a file keeps its bytes.
  EXPECT_EQ(safetensors::encode(back), bytes);
}

TEST(Safetensors, WriterOrderIsTheReferenceOrder) {
  // Descending dtype in the reference's enum (BOOL < U8 < I8 < F16 < BF16 < I32 < U32 < F32 <
  // F64 < I64), then by name.
  safetensors::File f;
  f.tensors = {
      {"z_bool", arr<bool>({true}, {1})}, {"a_u8", arr<uint8_t>({1}, {1})},
      {"b_f32", arr<float>({1}, {1})},    {"a_f32", arr<float>({1}, {1})},
      {"c_i64", arr<int64_t>({1}, {1})},  {"d_f64", arr<double>({1}, {1})},
      {"e_bf16", arr<bf16>({{0}}, {1})},  {"f_f16", arr<f16>({{0}}, {1})},
      {"g_i32", arr<int32_t>({1}, {1})},  {"h_u32", arr<uint32_t>({1}, {1})},
      {"i_i8", arr<int8_t>({1}, {1})},
  };
  auto back = safetensors::decode(safetensors::encode(f));
  std::vector<std::string> names;
  for (const auto& t : back.tensors) names.push_back(t.first);
  EXPECT_EQ(names, (std::vector<std::string>{"c_i64", "d_f64", "a_f32", "b_f32", "h_u32", "g_i32",
                                             "e_bf16", "f_f16", "i_i8", "a_u8", "z_bool"}));
}

TEST(Safetensors, ReaderTakesHeaderEntriesInAnyOrder) {
  auto bytes = file_of(
      "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
      "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
      {5, 6});
  auto f = safetensors::decode(bytes);
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "a");  // by offset
  EXPECT_EQ(f.tensors[0].second.to_vector<uint8_t>(), std::vector<uint8_t>{5});
  EXPECT_EQ(f.tensors[1].second.to_vector<uint8_t>(), std::vector<uint8_t>{6});
}

TEST(Safetensors, TreesAreNamedByDottedPaths) {
  Tree t = Tree::dict(
      {{"params", Tree::dict({{"Dense_0", Tree::dict({{"kernel", arr<float>({1, 2}, {1, 2})},
                                                      {"bias", arr<float>({3, 4}, {2})}})}})},
       {"layers", Tree::list({arr<int32_t>({7}, {1}), Tree()})}});
  auto f = safetensors::from_tree(t);
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.tensors[0].first, "params.Dense_0.kernel");
  EXPECT_EQ(f.tensors[1].first, "params.Dense_0.bias");
  EXPECT_EQ(f.tensors[2].first, "layers.0");

  Tree back = safetensors::to_tree(safetensors::decode(safetensors::encode(f)));
  // File order: F32 before I32, then names sorted.
  EXPECT_EQ(
      back.str(),
      Tree::dict({{"params", Tree::dict({{"Dense_0", Tree::dict({
                                                         {"bias", arr<float>({3, 4}, {2})},
                                                         {"kernel", arr<float>({1, 2}, {1, 2})},
                                                     })}})},
                  {"layers", Tree::dict({{"0", arr<int32_t>({7}, {1})}})}})
          .str());
  EXPECT_EQ(back["params"]["Dense_0"]["kernel"].leaf().to_vector<float>(),
            (std::vector<float>{1, 2}));

  safetensors::File clash;
  clash.tensors = {{"a", arr<float>({1}, {1})}, {"a.b", arr<float>({1}, {1})}};
  EXPECT_NE(error_of([&] { safetensors::to_tree(clash, "c.safetensors"); }).find("'a.b'"),
            std::string::npos);
}

TEST(Safetensors, SaveAndLoadFilesWithATemplate) {
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln_st_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir);
  auto path = dir / "model.safetensors";
  Tree params = Tree::dict({{"params", Tree::dict({{"w", arr<float>({1, 2, 3}, {3})}})}});
  safetensors::save(path, params, safetensors::Metadata{{"format", "flax"}});
  EXPECT_EQ(safetensors::read(path).metadata->at(0).second, "flax");
  EXPECT_TRUE(safetensors::load(path, params).equals(params));
  Tree wrong = Tree::dict({{"params", Tree::dict({{"w", arr<float>({1, 2}, {2})}})}});
  EXPECT_NE(error_of([&] { safetensors::load(path, wrong); }).find("params/w"), std::string::npos);
  // Only the final file is ever at the destination: no temporary is left behind.
  safetensors::save(path, wrong);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);
  std::filesystem::remove_all(dir);
}

// The safetensors names of the dtypes kiln added, in a file whose header is written out: I16, U16,
// U64 and C64 (complex64, the format's one complex dtype), sorted by the reference's enum order
// (U64 > I64 > F64 > C64 > ... > U16 > I16) descending.
TEST(Safetensors, PinnedHeaderOfTheNewDtypes) {
  safetensors::File f;
  f.tensors = {
      {"a", arr<int16_t>({-2}, {1})},
      {"b", arr<uint16_t>({2}, {1})},
      {"c", arr<uint64_t>({5}, {1})},
      {"d", arr<std::complex<float>>({{1, 2}}, {1})},
  };
  auto bytes = safetensors::encode(f);
  std::string header(bytes.begin() + 8, bytes.end() - 20);
  EXPECT_EQ(header,
            "{\"c\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[0,8]},"
            "\"d\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[8,16]},"
            "\"b\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[16,18]},"
            "\"a\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[18,20]}}      ");
  // The buffer: 5 as uint64, 1+2j as two float32s, 2 as uint16, -2 as int16, little-endian.
  std::vector<uint8_t> data(bytes.end() - 20, bytes.end());
  EXPECT_EQ(to_hex(data), "05 00 00 00 00 00 00 00 00 00 80 3f 00 00 00 40 02 00 fe ff");
  auto back = safetensors::decode(bytes);
  EXPECT_EQ(back.tensors[1].second.dtype(), DType::complex64);
  EXPECT_EQ(back.tensors[3].second.dtype(), DType::int16);
  EXPECT_EQ(safetensors::encode(back), bytes);
}

TEST(Safetensors, Complex128HasNoSafetensorsDtype) {
  safetensors::File f;
  f.tensors = {{"z", arr<std::complex<double>>({{1, 2}}, {1})}};
  EXPECT_EQ(error_of([&] { safetensors::encode(f); }),
            "safetensors: tensor 'z' is complex128, which safetensors has no dtype for (its only "
            "complex dtype is C64, complex64): keep this file in Flax's msgpack format");
}

TEST(Safetensors, WriterRefusesWhatTheFormatCannotHold) {
  safetensors::File dup;
  dup.tensors = {{"a", arr<float>({1}, {1})}, {"a", arr<float>({2}, {1})}};
  EXPECT_NE(error_of([&] { safetensors::encode(dup); }).find("two tensors are named 'a'"),
            std::string::npos);
  safetensors::File reserved;
  reserved.tensors = {{"__metadata__", arr<float>({1}, {1})}};
  EXPECT_NE(error_of([&] { safetensors::encode(reserved); }), "");
}

// ---- bad input ----

TEST(SafetensorsReader, TruncatedFiles) {
  EXPECT_NE(decode_error({1, 2, 3}).find("bad.safetensors: the file is 3 bytes"),
            std::string::npos);
  safetensors::File f;
  f.tensors = {{"w", arr<float>({1, 2, 3, 4}, {4})}};
  auto good = safetensors::encode(f);
  // Every proper prefix is refused with an error, never a crash.
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_NE(decode_error(cut), "") << n;
  }
  std::vector<uint8_t> cut(good.begin(), good.end() - 3);
  std::string e = decode_error(cut);
  EXPECT_NE(e.find("tensor 'w' ends at byte"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST(SafetensorsReader, HeaderLengthBeyondTheFile) {
  auto b = file_of("{}");
  b[0] = 200;
  std::string e = decode_error(b);
  EXPECT_NE(e.find("bad.safetensors: the header length at byte 0 says 200 bytes but only 2 follow"),
            std::string::npos)
      << e;
  // A huge declared length is refused from the length alone: nothing is allocated for it.
  for (int i = 0; i < 8; ++i) b[i] = 0xff;
  e = decode_error(b);
  EXPECT_NE(e.find("18446744073709551615 bytes but only 2 follow"), std::string::npos) << e;
}

TEST(SafetensorsReader, BadJson) {
  // The stray "}" is byte 16 of the header, byte 24 of the file.
  std::string e = decode_error(file_of("{\"a\": {\"dtype\": }}"));
  EXPECT_NE(e.find("bad.safetensors: the JSON header is not valid JSON at byte 24"),
            std::string::npos)
      << e;
  EXPECT_NE(decode_error(file_of("[1, 2]")).find("not an object"), std::string::npos);
  EXPECT_NE(decode_error(file_of("{\"a\": 5}")).find("tensor 'a'"), std::string::npos);
  EXPECT_NE(decode_error(file_of("{\"a\": {\"shape\": [], \"data_offsets\": [0, 0]}}"))
                .find("tensor 'a': its header entry has no \"dtype\""),
            std::string::npos);
  // Deep nesting is stopped while parsing.
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  e = decode_error(file_of(deep));
  EXPECT_NE(e.find("nests deeper"), std::string::npos) << e;
  // JSON that parses but that no double holds.
  e = decode_error(file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e999],\"data_offsets\":[0,4]}}"));
  EXPECT_NE(e.find("bad.safetensors: the JSON header (at byte 8) cannot be read"),
            std::string::npos)
      << e;
  e = decode_error(file_of("{\"__metadata__\": {\"k\": 1}}"));
  EXPECT_NE(e.find("__metadata__['k'] is 1, not a string"), std::string::npos) << e;
}

TEST(SafetensorsReader, OffsetsOutOfRangeOverlappingOrWithGaps) {
  std::vector<uint8_t> data(12, 0);
  std::string e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data));
  EXPECT_NE(e.find("tensor 'a' ends at byte"), std::string::npos) << e;

  e =
      decode_error(file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                           data));
  EXPECT_NE(e.find("tensor 'b' (bytes"), std::string::npos) << e;
  EXPECT_NE(e.find("overlaps tensor 'a'"), std::string::npos) << e;

  // Header "{...}" of 110 bytes: the buffer starts at byte 118.
  std::string gap_header =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
  e = decode_error(file_of(gap_header, data));
  uint64_t base = 8 + gap_header.size();
  EXPECT_NE(
      e.find("tensor 'b' starts at byte " + std::to_string(base + 8) +
             " but tensor 'a' ends at byte " + std::to_string(base + 4) + ": a gap of 4 bytes"),
      std::string::npos)
      << e;

  e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data));
  EXPECT_NE(e.find("4 bytes after the last tensor belong to none"), std::string::npos) << e;

  e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", data));
  EXPECT_NE(e.find("end before they begin"), std::string::npos) << e;
  e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", data));
  EXPECT_NE(e.find("not [begin, end]"), std::string::npos) << e;
}

TEST(SafetensorsReader, ByteCountMustMatchTheShape) {
  std::vector<uint8_t> data(8, 0);
  std::string e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data));
  EXPECT_NE(e.find("tensor 'a': F32 of shape [3] needs 12 bytes but data_offsets [0,8] hold 8"),
            std::string::npos)
      << e;
  // A shape whose byte count overflows 64 bits.
  e = decode_error(file_of(
      "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
      data));
  EXPECT_NE(e.find("needs over 2**64 bytes"), std::string::npos) << e;
  e = decode_error(file_of(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", data));
  EXPECT_NE(e.find("tensor 'a' has rank 9, over kiln's maximum of 8"), std::string::npos) << e;
  e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data));
  EXPECT_NE(e.find("not a dimension"), std::string::npos) << e;
}

TEST(SafetensorsReader, DtypesKilnLacksOrThatDoNotExist) {
  std::vector<uint8_t> data(4, 0);
  std::string e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F8_E5M2\",\"shape\":[4],\"data_offsets\":[0,4]}}", data));
  EXPECT_NE(e.find("tensor 'a' has dtype F8_E5M2: kiln does not support it yet"), std::string::npos)
      << e;
  e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", data));
  EXPECT_NE(e.find("does not support it yet"), std::string::npos) << e;
  e = decode_error(
      file_of("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,4]}}", data));
  EXPECT_NE(e.find("\"F128\", which is not a safetensors dtype"), std::string::npos) << e;
}

TEST(SafetensorsReader, BoolBytesAreZeroOrOne) {
  std::string e = decode_error(
      file_of("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", {1, 2}));
  EXPECT_NE(e.find("tensor 'a' is BOOL but byte"), std::string::npos) << e;
}

TEST(SafetensorsReader, ErrorsAreKilnErrors) {
  EXPECT_THROW(safetensors::decode({1}), Error);
  EXPECT_THROW(safetensors::read("/nonexistent/x.safetensors"), Error);
}

}  // namespace
}  // namespace kiln
