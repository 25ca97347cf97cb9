// IDX: hand-built files of every element type, plain and gzip (recognised by magic, not name),
// and every malformed header or payload refused with a ValueError naming the file, the byte
// offset and what was expected against what was found.
#include <gtest/gtest.h>

#include "data/data_test_helpers.hpp"
#include "kiln/data.hpp"

namespace kiln {
namespace {

using testing_data::gzip;
using testing_data::idx_bytes;
using testing_data::TempDir;
using testing_data::value_error_of;

std::string idx_error(const std::vector<uint8_t>& bytes) {
  return value_error_of([&] { data::read_idx_bytes(bytes, "t.idx"); });
}

const std::vector<uint8_t> kSix = {1, 2, 3, 4, 5, 250};

TEST(Idx, ReadsUint8InCOrder) {
  Array a = data::read_idx_bytes(idx_bytes(0x08, {2, 3}, kSix));
  EXPECT_EQ(a.dtype(), DType::uint8);
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(a.to_vector<uint8_t>(), kSix);
}

TEST(Idx, MultiByteElementsAreBigEndian) {
  Array i32 = data::read_idx_bytes(idx_bytes(0x0C, {2}, {0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe}));
  EXPECT_EQ(i32.dtype(), DType::int32);
  EXPECT_EQ(i32.to_vector<int32_t>(), (std::vector<int32_t>{258, -2}));
  Array f32 = data::read_idx_bytes(
      idx_bytes(0x0D, {2}, {0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0}));  // 1.0, -2.5
  EXPECT_EQ(f32.dtype(), DType::float32);
  EXPECT_EQ(f32.to_vector<float>(), (std::vector<float>{1.0f, -2.5f}));
  Array f64 = data::read_idx_bytes(idx_bytes(0x0E, {1}, {0x3f, 0xf8, 0, 0, 0, 0, 0, 0}));  // 1.5
  EXPECT_EQ(f64.dtype(), DType::float64);
  EXPECT_EQ(f64.to_vector<double>(), (std::vector<double>{1.5}));
  Array i16 = data::read_idx_bytes(idx_bytes(0x0B, {3}, {0x01, 0x02, 0xff, 0xfe, 0x80, 0x00}));
  EXPECT_EQ(i16.dtype(), DType::int16);
  EXPECT_EQ(i16.to_vector<int16_t>(), (std::vector<int16_t>{258, -2, -32768}));
  Array i8 = data::read_idx_bytes(idx_bytes(0x09, {3}, {0xff, 0x7f, 0x80}));
  EXPECT_EQ(i8.dtype(), DType::int8);
  EXPECT_EQ(i8.to_vector<int8_t>(), (std::vector<int8_t>{-1, 127, -128}));
}

TEST(Idx, ZeroDimensionsIsAScalarAndAZeroDimIsEmpty) {
  Array scalar = data::read_idx_bytes(idx_bytes(0x08, {}, {7}));
  EXPECT_EQ(scalar.shape(), Shape{});
  EXPECT_EQ(scalar.item<uint8_t>(), 7);
  Array empty = data::read_idx_bytes(idx_bytes(0x0D, {0, 28}, {}));
  EXPECT_EQ(empty.shape(), (Shape{0, 28}));
}

TEST(Idx, GzipIsRecognisedByItsMagicNotItsName) {
  TempDir dir;
  // gzip content under a plain name, plain content under a .gz name: both read by content.
  testing_data::write_bytes(dir / "a.idx", gzip(idx_bytes(0x08, {2, 3}, kSix)));
  testing_data::write_bytes(dir / "b.idx.gz", idx_bytes(0x08, {2, 3}, kSix));
  for (const char* name : {"a.idx", "b.idx.gz"}) {
    Array a = data::read_idx(dir / name);
    EXPECT_EQ(a.shape(), (Shape{2, 3})) << name;
    EXPECT_EQ(a.to_vector<uint8_t>(), kSix) << name;
  }
}

TEST(Idx, GzipMembersBackToBackAreOneStream) {
  // RFC 1952 allows several members; gzip -d concatenates their content, and so does kiln.
  auto whole = idx_bytes(0x0C, {2}, {0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe});
  auto first = gzip({whole.begin(), whole.begin() + 10});
  auto second = gzip({whole.begin() + 10, whole.end()});
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(data::read_idx_bytes(first).to_vector<int32_t>(), (std::vector<int32_t>{258, -2}));
}

TEST(Idx, TruncatedPayloadNamesTheOffsetAndBothSizes) {
  auto bytes = idx_bytes(0x08, {2, 3}, {1, 2, 3, 4});
  EXPECT_EQ(idx_error(bytes),
            "t.idx: at byte 16: truncated: the header declares uint8[2,3], which needs 18 bytes in "
            "all, but the data ends at byte 16 (expected 18 bytes, found 16)");
  EXPECT_EQ(idx_error(gzip(bytes)),
            "t.idx: at byte 16 of the decompressed data: truncated: the header declares "
            "uint8[2,3], which needs 18 bytes in all, but the data ends at byte 16 (expected 18 "
            "bytes, found 16)");
}

TEST(Idx, TrailingBytesAreAnError) {
  auto bytes = idx_bytes(0x08, {2, 3}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(idx_error(bytes),
            "t.idx: at byte 18: 2 trailing bytes after the uint8[2,3] the header declares "
            "(expected 18 bytes, found 20)");
  EXPECT_EQ(idx_error(gzip(bytes)),
            "t.idx: at byte 18 of the decompressed data: 2 trailing bytes after the uint8[2,3] "
            "the header declares (expected 18 bytes, found 20)");
}

TEST(Idx, GzipBombIsCutOffNotInflatedInFull) {
  // 16 MiB of zeros compress to about 16 KiB; the reader stops counting after 1 MiB of excess.
  auto bytes = idx_bytes(0x08, {4}, std::vector<uint8_t>(size_t{16} << 20, 0));
  EXPECT_EQ(idx_error(gzip(bytes, 9)),
            "t.idx: at byte 12 of the decompressed data: more than 1048576 trailing bytes after "
            "the uint8[4] the header declares (expected 12 bytes, found more than 1048588)");
}

TEST(Idx, CutShortOrCorruptGzipIsNamed) {
  auto gz = gzip(idx_bytes(0x08, {2, 3}, kSix));
  auto cut = std::vector<uint8_t>(gz.begin(), gz.end() - 5);  // inside the CRC-32/size trailer
  EXPECT_EQ(idx_error(cut),
            "t.idx: at compressed byte " + std::to_string(cut.size()) +
                ": truncated gzip stream: the file ends before the stream does (after 18 "
                "decompressed bytes); the file was cut short, download or copy it again");
  auto bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0xff;  // a byte of the CRC-32
  EXPECT_NE(idx_error(bad_crc).find("t.idx: at compressed byte"), std::string::npos);
  EXPECT_NE(idx_error(bad_crc).find("corrupt gzip data (zlib: incorrect data check)"),
            std::string::npos);
  auto garbage_after = gz;
  garbage_after.push_back('x');
  EXPECT_EQ(idx_error(garbage_after),
            "t.idx: at compressed byte " + std::to_string(gz.size()) +
                ": 1 bytes after the end of the gzip stream that are not another gzip member");
}

TEST(Idx, WrongMagicTypeOrRankIsRefusedByName) {
  EXPECT_EQ(idx_error({0x01, 0x02, 0x08, 0x01, 0, 0, 0, 0}),
            "t.idx: at byte 0: not an IDX file: it starts with bytes 01 02 08 01, where an IDX "
            "file starts with 00 00, an element type and a dimension count");
  EXPECT_EQ(idx_error(idx_bytes(0x07, {1}, {0})),
            "t.idx: at byte 2: unknown IDX element type 0x07; IDX defines 0x08 uint8, 0x09 "
            "int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64");
  EXPECT_EQ(idx_error(idx_bytes(0x08, std::vector<uint32_t>(9, 1), {0})),
            "t.idx: at byte 3: 9 dimensions; kiln arrays have at most 8");
}

TEST(Idx, TruncatedHeader) {
  EXPECT_EQ(idx_error({0, 0}),
            "t.idx: at byte 2: truncated header: the data ends after 2 bytes, but an IDX file "
            "starts with a 4-byte magic number");
  EXPECT_EQ(idx_error({0, 0, 0x08, 3, 0, 0, 0, 1}),
            "t.idx: at byte 8: truncated header: the data ends after 8 bytes, but 3 dimensions "
            "need a 16-byte header");
}

TEST(Idx, HugeDimensionsAreRefusedBeforeAnyAllocation) {
  EXPECT_EQ(idx_error(idx_bytes(0x08, {0xffffffff, 0xffffffff}, {})),
            "t.idx: at byte 4: the dimensions 4294967295 x 4294967295 declare more than kiln's "
            "IDX limit of 2147483647 elements (kiln::data::kMaxIdxElements)");
  EXPECT_NE(idx_error(idx_bytes(0x08, {65536, 32768}, {})).find("IDX limit"), std::string::npos);
  // Just under the limit, 16 GiB of float64 declared over no data: refused as truncated, plain
  // before allocating, gzip after allocating only for what inflate produced.
  auto hostile = idx_bytes(0x0E, {32767, 65536}, {1, 2, 3});
  EXPECT_EQ(idx_error(hostile),
            "t.idx: at byte 15: truncated: the header declares float64[32767,65536], which needs "
            "17179344908 bytes in all, but the data ends at byte 15 (expected 17179344908 "
            "bytes, found 15)");
  EXPECT_NE(idx_error(gzip(hostile)).find("at byte 15 of the decompressed data: truncated"),
            std::string::npos);
}

TEST(Idx, MissingFileNamesIt) {
  TempDir dir;
  std::string e = value_error_of([&] { data::read_idx(dir / "absent.idx"); });
  EXPECT_NE(e.find((dir / "absent.idx").string()), std::string::npos) << e;
  EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
}

}  // namespace
}  // namespace kiln
