// checkpoints::summarize and the text `kiln inspect FILE` prints of it (tools/kiln/inspect_text).
// Checksums are zlib's CRC-32 of the stored bytes, the values Python's zlib.crc32 gives (12 zero
// bytes: 7bd5c66f).
#include <gtest/gtest.h>

#include "inspect_text.hpp"
#include "io/chunked_array.hpp"
#include "io/io_test_helpers.hpp"
#include "kiln/checkpoints.hpp"

namespace kiln {
namespace {

using serialization::StateValue;
using testing_io::f32;
using testing_io::i32;
using testing_io::map_of;

using testing_io::array_value;

std::string inspect_summary(const StateValue& s) {
  return cli::inspect_text(checkpoints::summarize(s));
}

TEST(Inspect, SmallTrainStateSummary) {
  StateValue lr;
  lr.kind = StateValue::Kind::floating;
  lr.f = 0.001;
  StateValue s = map_of({
      {"step", testing_io::int_value(0)},
      {"params",
       map_of({{"Dense_0", map_of({{"bias", array_value(f32({0, 0, 0}, {3}))},
                                   {"kernel", array_value(f32({0, 0, 0, 0, 0, 0}, {2, 3}))}})}})},
      {"opt_state",
       map_of({{"0", map_of({{"count", array_value(i32({0}, {}))}})}, {"1", map_of({})}})},
      {"scale", array_value(f32({1}, {}), StateValue::Kind::scalar)},
      {"lr", lr},
  });
  EXPECT_EQ(inspect_summary(s),
            "step: int 0\n"
            "params:\n"
            "  Dense_0:\n"
            "    bias: float32[3] crc32=7bd5c66f\n"
            "    kernel: float32[2,3] crc32=a3c1ca20\n"
            "opt_state:\n"
            "  0:\n"
            "    count: int32[] crc32=2144df1c\n"
            "  1: {}\n"
            "scale: float32[] (numpy scalar) crc32=aca16a6a\n"
            "lr: float 0.001\n"
            "Total: 4 arrays, 11 elements, 44 bytes\n"
            "Parameters (under 'params'): 2 arrays, 9 elements, 36 bytes\n");
}

TEST(Inspect, SummaryListsLeavesWithPathsAndTotals) {
  const StateValue s = map_of({{"params", map_of({{"w", array_value(f32({0, 0, 0}, {3}))}})},
                               {"step", testing_io::int_value(7)}});
  const checkpoints::Summary got = checkpoints::summarize(s);
  ASSERT_EQ(got.entries.size(), 2u);
  EXPECT_EQ(got.entries[0].path, (std::vector<std::string>{"params", "w"}));
  EXPECT_EQ(got.entries[0].kind, checkpoints::SummaryEntry::Kind::array);
  EXPECT_EQ(got.entries[0].shape, Shape({3}));
  EXPECT_EQ(got.entries[0].crc32, 0x7bd5c66fu);
  EXPECT_EQ(got.entries[1].path, (std::vector<std::string>{"step"}));
  EXPECT_EQ(got.entries[1].native, "int 7");
  EXPECT_EQ(got.total, (checkpoints::SummaryTotals{1, 3, 12}));
  ASSERT_TRUE(got.params.has_value());
  EXPECT_EQ(*got.params, (checkpoints::SummaryTotals{1, 3, 12}));
  EXPECT_FALSE(checkpoints::summarize(map_of({{"step", testing_io::int_value(7)}})).params);
}

TEST(Inspect, ChunkedArraysShowAsOneArray) {
  StateValue s =
      map_of({{"emb", serialization::chunk_array(f32(std::vector<float>(300, 0), {3, 100}), 400)}});
  EXPECT_EQ(inspect_summary(s),
            "emb: float32[3,100] (chunked) crc32=0c4e4a69\n"
            "Total: 1 array, 300 elements, 1200 bytes (1.2 KiB)\n");
}

TEST(Inspect, FixtureSummaryTotals) {
  KILN_SKIP_WITHOUT_FLAX_FIXTURE();
  const auto p = testing_io::flax_fixture();
  std::string text = inspect_summary(serialization::decode(serialization::read_file(p)));
  EXPECT_EQ(
      text.rfind("step: int32[] crc32=3c9ce773\nparams:\n  Transformer:\n    encoder_norm:\n", 0),
      0u)
      << text;
  EXPECT_NE(text.find("\n      pos_embedding: float32[1,400,42] crc32="), std::string::npos);
  EXPECT_NE(text.find("\n  1: {}\nmetrics:\n"), std::string::npos);
  EXPECT_NE(
      text.find(
          "\nTotal: 114 arrays, 116812 elements, 467248 bytes (456.3 KiB)\n"
          "Parameters (under 'params'): 55 arrays, 58404 elements, 233616 bytes (228.1 KiB)\n"),
      std::string::npos)
      << text;
}

}  // namespace
}  // namespace kiln
