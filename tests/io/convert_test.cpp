// Conversions between Flax msgpack and safetensors (lossless both ways) and checkpoint diffs.
#include <gtest/gtest.h>

#include <complex>
#include <filesystem>
#include <span>

#include "io/io_test_helpers.hpp"
#include "kiln/checkpoints.hpp"
#include "kiln/ops.hpp"
#include "kiln/safetensors.hpp"

namespace kiln {
namespace {

using serialization::StateValue;
using testing_io::error_of;
using testing_io::f32;
using testing_io::i32;
using testing_io::map_of;

using testing_io::array_value;

StateValue string_value(std::string s) {
  StateValue v;
  v.kind = StateValue::Kind::string;
  v.s = std::move(s);
  return v;
}

// What a Flax TrainState with optax's sgd + momentum holds, with the native values, empty state,
// numpy scalars and field order safetensors has no place for.
StateValue train_state() {
  StateValue lr;
  lr.kind = StateValue::Kind::floating;
  lr.f = 0.001;
  StateValue nan;
  nan.kind = StateValue::Kind::floating;
  nan.f = std::numeric_limits<double>::quiet_NaN();
  nan.f_single = true;
  StateValue big;
  big.kind = StateValue::Kind::integer;
  big.i_unsigned = true;
  big.u = 18446744073709551615ull;
  StateValue flag;
  flag.kind = StateValue::Kind::boolean;
  flag.b = true;
  auto params = [] {
    return map_of({{"Dense_0", map_of({{"kernel", array_value(f32({1, 2, 3, 4, 5, 6}, {2, 3}))},
                                       {"bias", array_value(f32({0.5f, -1, 2}, {3}))}})},
                   {"Dense_1", map_of({{"bias", array_value(f32({7}, {1}))},
                                       {"kernel", array_value(f32({8, 9, 10}, {3, 1}))}})}});
  };
  return map_of({
      {"step", testing_io::int_value(100)},
      {"params", params()},
      {"opt_state",
       map_of({{"0", map_of({{"trace", params()}})},
               {"1", map_of({})},
               {"2", map_of({{"count", array_value(i32({3}, {}))}, {"none", StateValue()}})}})},
      {"lr", lr},
      {"scale", array_value(f32({2}, {}), StateValue::Kind::scalar)},
      {"extras", map_of({{"nan", nan},
                         {"big", big},
                         {"flag", flag},
                         {"name", string_value("run \"7\" \xc3\xa9")},
                         {"neg", testing_io::int_value(-5)}})},
  });
}

TEST(Convert, StateDictThroughSafetensorsGivesTheSameMsgpackBytes) {
  StateValue s = train_state();
  auto original = serialization::encode(s);
  auto file = safetensors::from_state_dict(s);
  // Its layout is recorded, as the names alone cannot say all of it.
  ASSERT_TRUE(file.metadata.has_value());
  EXPECT_EQ(file.metadata->back().first, safetensors::kStateDictKey);
  auto st_bytes = safetensors::encode(file);
  StateValue back = safetensors::to_state_dict(safetensors::decode(st_bytes));
  EXPECT_EQ(testing_io::to_hex(serialization::encode(back)), testing_io::to_hex(original));
  // And safetensors -> msgpack -> safetensors keeps the safetensors bytes.
  EXPECT_EQ(safetensors::encode(safetensors::from_state_dict(back)), st_bytes);
}

TEST(Convert, PlainParamsNeedNoLayout) {
  // A params tree in Flax's (sorted) order, all float32: the file's own order reproduces it, so
  // the file is exactly what any safetensors writer would make, with no kiln metadata.
  StateValue s = map_of(
      {{"params", map_of({{"Dense_0", map_of({{"bias", array_value(f32({1, 2}, {2}))},
                                              {"kernel", array_value(f32({3, 4}, {1, 2}))}})},
                          {"Dense_1", map_of({{"bias", array_value(f32({5}, {1}))}})}})}});
  auto file = safetensors::from_state_dict(s);
  EXPECT_FALSE(file.metadata.has_value());
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].first, "params.Dense_0.bias");
  auto back = safetensors::to_state_dict(safetensors::decode(safetensors::encode(file)));
  EXPECT_EQ(serialization::encode(back), serialization::encode(s));
}

TEST(Convert, SafetensorsMetadataSurvivesMsgpack) {
  safetensors::File f;
  f.tensors = {{"model.embed.weight", Array::from_data<int64_t>(std::vector<int64_t>{1, 2}, {2})},
               {"model.norm.weight", f32({1, 2, 3}, {3})},
               {"lm_head.weight", Array::from_data<bf16>(std::vector<bf16>{{1}, {2}}, {2})}};
  f.metadata = safetensors::Metadata{{"format", "pt"}, {"author", "someone"}};
  auto bytes = safetensors::encode(f);
  StateValue s = safetensors::to_state_dict(safetensors::decode(bytes));
  ASSERT_EQ(s.map->entries[0].first, "__metadata__");
  EXPECT_EQ(s.map->entries[0].second.map->entries[1].second.s, "someone");
  // Through msgpack bytes and back: the same safetensors file.
  StateValue via = serialization::decode(serialization::encode(s));
  EXPECT_EQ(safetensors::encode(safetensors::from_state_dict(via)), bytes);
}

TEST(Convert, MsgpackToSafetensorsToMsgpackFiles) {
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln_convert_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir);
  auto a = dir / "a.msgpack";
  serialization::write_file(a, serialization::encode(train_state()));
  checkpoints::convert(a, dir / "b.safetensors");
  checkpoints::convert(dir / "b.safetensors", dir / "c.msgpack");
  checkpoints::convert(a, dir / "d.msgpack");
  EXPECT_EQ(serialization::read_file(dir / "c.msgpack"), serialization::read_file(a));
  EXPECT_EQ(serialization::read_file(dir / "d.msgpack"), serialization::read_file(a));
  EXPECT_TRUE(
      checkpoints::diff(checkpoints::read_state(a), checkpoints::read_state(dir / "b.safetensors"))
          .identical);
  std::string e = error_of([&] { checkpoints::convert(a, dir / "x.npz"); });
  EXPECT_NE(e.find("x.npz"), std::string::npos) << e;
  EXPECT_NE(e.find(".safetensors"), std::string::npos) << e;
  std::filesystem::remove_all(dir);
}

TEST(Convert, FlaxFixtureRoundTripsByteForByte) {
  KILN_SKIP_WITHOUT_FLAX_FIXTURE();
  auto original = serialization::read_file(testing_io::flax_fixture());
  StateValue s = serialization::decode(original);
  auto st = safetensors::encode(safetensors::from_state_dict(s));
  StateValue back = safetensors::to_state_dict(safetensors::decode(st, "fixture.safetensors"));
  EXPECT_TRUE(serialization::encode(back) == original);
  EXPECT_EQ(safetensors::encode(safetensors::from_state_dict(back)), st);
}

TEST(Convert, BadLayoutsAreErrors) {
  safetensors::File f;
  f.tensors = {{"a", f32({1}, {1})}};
  auto layout_error = [&](const std::string& layout) {
    f.metadata = safetensors::Metadata{{std::string(safetensors::kStateDictKey), layout}};
    return error_of([&] { safetensors::to_state_dict(f, "l.safetensors"); });
  };
  EXPECT_NE(layout_error("{").find("l.safetensors: __metadata__['kiln.flax_state_dict'] is not "
                                   "valid JSON"),
            std::string::npos);
  EXPECT_NE(layout_error("{\"b\":[\"array\"]}").find("it lists tensor 'b', which the file lacks"),
            std::string::npos);
  EXPECT_NE(layout_error("{}").find("it does not place tensor 'a'"), std::string::npos);
  EXPECT_NE(layout_error("{\"a\":[\"frob\"]}").find("at 'a'"), std::string::npos);
  EXPECT_NE(layout_error(std::string(10000, '[') + std::string(10000, ']')).find("deeper"),
            std::string::npos);
}

TEST(Convert, StateDictsSafetensorsCannotHold) {
  // Flax's to_bytes of a bare array has no name to give it.
  std::string e = error_of([&] {
    checkpoints::write_state(std::filesystem::temp_directory_path() / "kiln_bare.safetensors",
                             array_value(f32({1}, {1})));
  });
  EXPECT_NE(e.find("kiln_bare.safetensors: safetensors holds named arrays, so the state dict must "
                   "be a map, not an array float32[1]"),
            std::string::npos)
      << e;
  EXPECT_FALSE(
      std::filesystem::exists(std::filesystem::temp_directory_path() / "kiln_bare.safetensors"));
}

// ---- every dtype ----

// One array of every kiln dtype (as ext 1; int16 and uint64 also as numpy scalars) and a Python
// complex; with_complex128 = false leaves out the one dtype safetensors cannot hold.
StateValue every_dtype(bool with_complex128) {
  auto a = [](auto values, Shape s) {
    using T = typename decltype(values)::value_type;
    return array_value(Array::from_data<T>(values, s));
  };
  bool bools[] = {true, false};
  StateValue z;
  z.kind = StateValue::Kind::complex;
  z.f = 1;
  z.imag = -2.5;
  auto m = map_of({
      {"bool", array_value(Array::from_data<bool>(std::span<const bool>(bools), {2}))},
      {"uint8", a(std::vector<uint8_t>{0, 255}, {2})},
      {"uint16", a(std::vector<uint16_t>{1, 65535}, {2})},
      {"uint32", a(std::vector<uint32_t>{4000000000u}, {1})},
      {"uint64", a(std::vector<uint64_t>{18446744073709551615ull, 0}, {2, 1})},
      {"int8", a(std::vector<int8_t>{-128}, {1})},
      {"int16", a(std::vector<int16_t>{-32768, 5}, {2})},
      {"int32", a(std::vector<int32_t>{-7}, {1})},
      {"int64", a(std::vector<int64_t>{-(int64_t{1} << 62)}, {1})},
      {"bfloat16", a(std::vector<bf16>{to_bf16(1.5f)}, {1})},
      {"float16", a(std::vector<f16>{to_f16(-0.25f)}, {1})},
      {"float32", a(std::vector<float>{3.5f, -0.f}, {2})},
      {"float64", a(std::vector<double>{1e-300}, {1})},
      {"complex64", a(std::vector<std::complex<float>>{{1, 2}, {-3, 0.5f}}, {2})},
      {"int16_scalar", array_value(Array::from_data<int16_t>(std::vector<int16_t>{-3}, {}),
                                   StateValue::Kind::scalar)},
      {"uint64_scalar",
       array_value(Array::from_data<uint64_t>(std::vector<uint64_t>{1ull << 63}, {}),
                   StateValue::Kind::scalar)},
      {"python_complex", z},
  });
  if (with_complex128)
    m.map->entries.emplace_back(
        "complex128", a(std::vector<std::complex<double>>{{0.5, -1}, {1e300, 0}}, {1, 2}));
  return m;
}

TEST(Convert, MsgpackOfEveryDtypeConvertsToMsgpackByteForByte) {
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln_dtypes_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir);
  auto a = dir / "a.msgpack";
  serialization::write_file(a, serialization::encode(every_dtype(true)));
  checkpoints::convert(a, dir / "b.msgpack");
  EXPECT_EQ(serialization::read_file(dir / "b.msgpack"), serialization::read_file(a));
  EXPECT_TRUE(
      checkpoints::diff(checkpoints::read_state(a), checkpoints::read_state(dir / "b.msgpack"))
          .identical);

  // To safetensors: complex128 has no dtype there; the error names the file, tensor and dtype,
  // and nothing is written.
  std::string e = error_of([&] { checkpoints::convert(a, dir / "c.safetensors"); });
  EXPECT_NE(e.find("cannot write " + (dir / "c.safetensors").string() +
                   ": safetensors: tensor 'complex128' is complex128, which safetensors has no "
                   "dtype for"),
            std::string::npos)
      << e;
  EXPECT_FALSE(std::filesystem::exists(dir / "c.safetensors"));

  // Without it, msgpack -> safetensors -> msgpack gives back the same bytes (the Python complex
  // and the numpy scalars ride in the layout).
  auto d = dir / "d.msgpack";
  serialization::write_file(d, serialization::encode(every_dtype(false)));
  checkpoints::convert(d, dir / "e.safetensors");
  checkpoints::convert(dir / "e.safetensors", dir / "f.msgpack");
  EXPECT_EQ(serialization::read_file(dir / "f.msgpack"), serialization::read_file(d));
  EXPECT_TRUE(
      checkpoints::diff(checkpoints::read_state(d), checkpoints::read_state(dir / "e.safetensors"))
          .identical);
  std::filesystem::remove_all(dir);
}

// inspect, diff and convert read files in place (arrays as views into the mapped file): what they
// say is what reading the whole file says, for every dtype and both formats.
TEST(Convert, ReadingInPlaceSaysWhatReadingWholeSays) {
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln_in_place_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir);
  auto a = dir / "a.msgpack";
  serialization::write_file(a, serialization::encode(every_dtype(false)));
  checkpoints::convert(a, dir / "a.safetensors");
  for (const auto& f : {a, dir / "a.safetensors"}) {
    EXPECT_EQ(checkpoints::summarize_file(f), checkpoints::summarize(checkpoints::read_state(f)))
        << f;
    const StateValue in_place = checkpoints::read_state_in_place(f);
    EXPECT_EQ(serialization::encode(in_place), serialization::encode(checkpoints::read_state(f)));
  }
  // A copy with one float32 element changed: diff_files reports what diff of whole reads does.
  StateValue changed = every_dtype(false);
  for (auto& [key, v] : changed.map->entries)
    if (key == "float32") v.array = v.array + 0.5;
  auto b = dir / "b.msgpack";
  serialization::write_file(b, serialization::encode(changed));
  const checkpoints::Diff whole = checkpoints::diff(
      checkpoints::read_state(a), checkpoints::read_state(b), a.string(), b.string());
  const checkpoints::Diff streamed = checkpoints::diff_files(a, b);
  EXPECT_FALSE(streamed.identical);
  EXPECT_EQ(streamed.report, whole.report);
  EXPECT_NE(streamed.report.find("float32 float32["), std::string::npos) << streamed.report;
  EXPECT_TRUE(checkpoints::diff_files(a, dir / "a.safetensors").identical);
  std::filesystem::remove_all(dir);
}

TEST(Convert, DiffComparesComplexAndUint64Values) {
  auto with = [](std::complex<double> c, uint64_t u, double imag) {
    StateValue z;
    z.kind = StateValue::Kind::complex;
    z.f = 1;
    z.imag = imag;
    return map_of({{"c", array_value(Array::from_data<std::complex<double>>(
                             std::vector<std::complex<double>>{{0, 0}, c}, {2}))},
                   {"u", array_value(Array::from_data<uint64_t>(std::vector<uint64_t>{u}, {1}))},
                   {"z", z}});
  };
  StateValue a = with({3, 4}, 18446744073709551615ull, 2);
  EXPECT_TRUE(checkpoints::diff(a, with({3, 4}, 18446744073709551615ull, 2)).identical);
  // |(3+4j) - 0| = 5; uint64 2**64-1 vs 2**64-2 differ by exactly 1 (an int64 view would not
  // see them as the values they are).
  auto d = checkpoints::diff(a, with({0, 0}, 18446744073709551614ull, 3), "a", "b");
  EXPECT_FALSE(d.identical);
  EXPECT_NE(d.report.find("c complex128[2]: 1 of 2 elements differ, max abs difference 5\n"),
            std::string::npos)
      << d.report;
  EXPECT_NE(d.report.find("u uint64[1]: 1 of 1 element differs, max abs difference 1\n"),
            std::string::npos)
      << d.report;
  EXPECT_NE(d.report.find("z: complex (1+2j) vs complex (1+3j)\n"), std::string::npos) << d.report;
}

TEST(Convert, DiffSaysWhatDiffersAndByHowMuch) {
  StateValue a = train_state();
  StateValue b = train_state();
  EXPECT_TRUE(checkpoints::diff(a, b).identical);
  EXPECT_EQ(checkpoints::diff(a, b).report, "identical: 19 entries\n");

  auto& dense0 = b.map->entries[1].second.map->entries[0].second.map->entries;
  dense0[0].second.array = f32({1, 2.5f, 3, 4, 5, 4}, {2, 3});  // kernel: 2 elements differ
  dense0[1].second.array = f32({0.5f, -1}, {2});                // bias: shape
  b.map->entries[0].second.i = 101;                             // step
  b.map->entries.pop_back();                                    // extras.* only in A
  b.map->entries.push_back({"new", array_value(i32({1}, {1}))});
  auto d = checkpoints::diff(a, b, "a.msgpack", "b.safetensors");
  EXPECT_FALSE(d.identical);
  EXPECT_NE(d.report.find("step: int 100 vs int 101\n"), std::string::npos) << d.report;
  EXPECT_NE(d.report.find("params.Dense_0.kernel float32[2,3]: 2 of 6 elements differ, max abs "
                          "difference 2\n"),
            std::string::npos)
      << d.report;
  EXPECT_NE(d.report.find("params.Dense_0.bias: float32[3] vs float32[2]\n"), std::string::npos)
      << d.report;
  EXPECT_NE(d.report.find("only in a.msgpack: extras.flag bool True\n"), std::string::npos)
      << d.report;
  EXPECT_NE(d.report.find("only in b.safetensors: new int32[1]\n"), std::string::npos) << d.report;
  EXPECT_NE(d.report.find("9 of 20 entries differ\n"), std::string::npos) << d.report;
}

}  // namespace
}  // namespace kiln
