// flax.serialization for kiln trees: Tree <-> state dict <-> bytes <-> file, the checks and
// messages of from_bytes (Flax's, plus shapes and dtypes), and the checkpoint Flax wrote in
// ../shared/fixtures (a TrainState of a small Transformer with SGD momentum and extra metrics).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <complex>
#include <filesystem>
#include <fstream>

#include "io/chunked_array.hpp"
#include "io/io_test_helpers.hpp"
#include "kiln/serialization.hpp"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using namespace kiln::serialization;
using testing_io::error_of;
using testing_io::f32;
using testing_io::hex;
using testing_io::i32;
using testing_io::int_value;
using testing_io::map_of;
using testing_io::to_hex;

const fs::path kFixture = testing_io::flax_fixture();

// The tree a state dict describes (maps to dicts, arrays to leaves): a template for from_bytes.
Tree tree_of(const StateValue& v) {
  if (v.kind == StateValue::Kind::map) {
    Tree t = Tree::dict();
    for (const auto& [k, sub] : v.map->entries) t.entry(k) = tree_of(sub);
    return t;
  }
  if (v.kind == StateValue::Kind::array || v.kind == StateValue::Kind::scalar) return Tree(v.array);
  return {};
}

const StateValue& at(const StateValue& v, std::initializer_list<std::string_view> path) {
  const StateValue* cur = &v;
  for (std::string_view k : path) {
    const StateValue* next = nullptr;
    for (const auto& [key, sub] : cur->map->entries)
      if (key == k) next = &sub;
    if (!next) throw std::runtime_error("no key " + std::string(k));
    cur = next;
  }
  return *cur;
}

std::vector<std::string> keys(const StateValue& v) {
  std::vector<std::string> out;
  for (const auto& [k, sub] : v.map->entries) out.push_back(k);
  return out;
}

// ---- the fixture Flax wrote ----

TEST(FlaxSerializationFixture, DecodeEncodeIsByteExact) {
  KILN_SKIP_WITHOUT_FLAX_FIXTURE();
  auto bytes = read_file(kFixture);
  ASSERT_EQ(bytes.size(), 470900u);
  EXPECT_TRUE(encode(decode(bytes, kFixture.string())) == bytes);
}

TEST(FlaxSerializationFixture, HoldsATrainStateWithMomentumAndMetrics) {
  KILN_SKIP_WITHOUT_FLAX_FIXTURE();
  StateValue s = decode(read_file(kFixture), kFixture.string());
  // flax TrainState fields, then the extra `metrics` field of the subclass that wrote it.
  EXPECT_EQ(keys(s), (std::vector<std::string>{"step", "params", "opt_state", "metrics"}));
  // step went through a jitted apply_gradients: an int32 array of shape (), 2280 steps in.
  const StateValue& step = at(s, {"step"});
  EXPECT_EQ(step.kind, StateValue::Kind::array);
  EXPECT_EQ(step.array.dtype(), int32);
  EXPECT_EQ(step.array.ndim(), 0);
  EXPECT_EQ(step.array.item<int32_t>(), 2280);
  // The params tree, keys sorted (it passed through jit): a 3-block encoder, hidden size 42.
  const StateValue& params = at(s, {"params"});
  EXPECT_EQ(keys(params), (std::vector<std::string>{"Transformer", "embedding", "head"}));
  EXPECT_EQ(keys(at(params, {"Transformer"})),
            (std::vector<std::string>{"encoder_norm", "encoderblock_0", "encoderblock_1",
                                      "encoderblock_2", "posembed_input"}));
  EXPECT_EQ(keys(at(params, {"Transformer", "encoderblock_0"})),
            (std::vector<std::string>{"LayerNorm_0", "LayerNorm_1", "MlpBlock_0",
                                      "MultiHeadDotProductAttention_0"}));
  auto shape_of = [&](std::initializer_list<std::string_view> p) {
    return at(params, p).array.shape();
  };
  EXPECT_EQ(shape_of({"embedding", "kernel"}), (Shape{5, 5, 1, 42}));
  EXPECT_EQ(shape_of({"head", "kernel"}), (Shape{42, 42}));
  EXPECT_EQ(shape_of({"Transformer", "posembed_input", "pos_embedding"}), (Shape{1, 400, 42}));
  EXPECT_EQ(shape_of({"Transformer", "encoderblock_1", "MlpBlock_0", "Dense_0", "kernel"}),
            (Shape{42, 64}));
  EXPECT_EQ(shape_of({"Transformer", "encoderblock_2", "MultiHeadDotProductAttention_0", "query",
                      "kernel"}),
            (Shape{42, 1, 42}));
  // optax.sgd(momentum): chain(trace, scale) -> {"0": {"trace": <params>}, "1": {}}.
  const StateValue& opt = at(s, {"opt_state"});
  EXPECT_EQ(keys(opt), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(keys(at(opt, {"0"})), (std::vector<std::string>{"trace"}));
  EXPECT_TRUE(at(opt, {"1"}).map->entries.empty());
  EXPECT_TRUE(tree_of(at(opt, {"0", "trace"})).same_structure(tree_of(params)));
  // clu-style metrics: 0-d arrays; the float32 total is the file's one fixext16.
  EXPECT_EQ(at(s, {"metrics", "_reduction_counter", "value"}).array.item<int32_t>(), 1);
  EXPECT_EQ(at(s, {"metrics", "loss", "total"}).array.dtype(), float32);
  EXPECT_EQ(at(s, {"metrics", "loss", "count"}).array.dtype(), int32);
}

TEST(FlaxSerializationFixture, LoadsIntoATemplateAndSavesTheSameBytes) {
  KILN_SKIP_WITHOUT_FLAX_FIXTURE();
  auto bytes = read_file(kFixture);
  Tree templ = tree_of(decode(bytes));
  Tree state = load(kFixture, templ);
  EXPECT_TRUE(state.equals(templ));
  EXPECT_TRUE(to_bytes(state) == bytes);
}

// ---- Tree <-> state dict ----

TEST(FlaxSerialization, ListsBecomeMapsKeyedByIndex) {
  Tree t = Tree::dict({{"layers", Tree::list({f32({1}, {1}), Tree()})}, {"e", Tree::dict()}});
  // {"layers": {"0": ext1 float32[1], "1": nil}, "e": {}}.
  EXPECT_EQ(to_hex(to_bytes(t)),
            to_hex(hex("82 a6 'layers' 82 a1 30 c7 11 01 93 91 01 a7 'float32' c4 04 00 00 80 3f"
                       " a1 31 c0 a1 'e' 80")));
  Tree back = from_bytes(t, to_bytes(t));
  EXPECT_TRUE(back.equals(t));
  EXPECT_TRUE(back["layers"].is_list());
}

TEST(FlaxSerialization, EveryDtypeRoundTrips) {
  bool bools[] = {true, false, true};
  Tree t = Tree::dict({
      {"bool", Array::from_data<bool>(std::span<const bool>(bools), {3})},
      {"uint8", Array::from_data<uint8_t>(std::vector<uint8_t>{0, 255}, {2})},
      {"uint32", Array::from_data<uint32_t>(std::vector<uint32_t>{0, 4000000000u}, {2})},
      {"int8", Array::from_data<int8_t>(std::vector<int8_t>{-128, 127}, {1, 2})},
      {"int32", i32({-7, 1 << 30}, {2, 1})},
      {"int64", Array::from_data<int64_t>(std::vector<int64_t>{-(int64_t{1} << 40)}, {})},
      {"bfloat16", Array::from_data<bf16>(std::vector<bf16>{to_bf16(1.5f), to_bf16(-2.f)}, {2})},
      {"float16", Array::from_data<f16>(std::vector<f16>{to_f16(0.5f)}, {1, 1, 1})},
      {"float32", f32({1.25f, -0.f, 3e38f}, {3})},
      {"float64", Array::from_data<double>(std::vector<double>{1e300, -1e-300}, {2})},
      {"int16", Array::from_data<int16_t>(std::vector<int16_t>{-32768, 32767}, {2})},
      {"uint16", Array::from_data<uint16_t>(std::vector<uint16_t>{0, 65535}, {2})},
      {"uint64", Array::from_data<uint64_t>(std::vector<uint64_t>{~uint64_t{0}, 1}, {1, 2})},
      {"complex64",
       Array::from_data<std::complex<float>>(std::vector<std::complex<float>>{{1, -2}}, {1})},
      {"complex128",
       Array::from_data<std::complex<double>>(std::vector<std::complex<double>>{{0.5, 3}}, {})},
      {"empty", f32({}, {0, 3})},
  });
  auto bytes = to_bytes(t);
  Tree back = from_bytes(t, bytes);
  EXPECT_TRUE(back.equals(t));
  // The names written are numpy's (bfloat16 from ml_dtypes, `bool` not `bool_`).
  StateValue s = decode(bytes);
  for (const auto& [k, v] : s.map->entries) {
    ASSERT_EQ(v.kind, StateValue::Kind::array) << k;
    if (k != "empty") {
      EXPECT_EQ(name(v.array.dtype()), k);
    }
  }
  std::string text(bytes.begin(), bytes.end());
  EXPECT_NE(text.find("\xa8"
                      "bfloat16"),
            std::string::npos);
  EXPECT_NE(text.find("\xa4"
                      "bool"),
            std::string::npos);
}

TEST(FlaxSerialization, NativeStepRestoresAsA0DArrayOfTheTemplatesDtype) {
  // flax's TrainState.create() leaves step a Python int, written as a msgpack int.
  Tree templ = Tree::dict({{"step", i32({0}, {})}, {"lr", f32({0}, {})}});
  StateValue lr;
  lr.kind = StateValue::Kind::floating;
  lr.f = 0.125;
  Tree t = from_state_dict(templ, map_of({{"step", int_value(3)}, {"lr", lr}}));
  EXPECT_EQ(t["step"].leaf().dtype(), int32);
  EXPECT_EQ(t["step"].leaf().ndim(), 0);
  EXPECT_EQ(t["step"].leaf().item<int32_t>(), 3);
  EXPECT_EQ(t["lr"].leaf().item<float>(), 0.125f);
  // Too large for int32, a float for an int, an int where the template is not 0-d: refused.
  EXPECT_NE(
      error_of([&] {
        from_state_dict(templ, map_of({{"step", int_value(int64_t{1} << 40)}, {"lr", lr}}), "f");
      })
          .find("f: at path ./step the state dict has int 1099511627776, which does not fit the "
                "template's int32"),
      std::string::npos);
  EXPECT_EQ(error_of([&] {
              from_state_dict(Tree::dict({{"step", i32({0}, {})}}), map_of({{"step", lr}}), "f");
            }),
            "f: dtype mismatch at path ./step: the template has int32[] but the state dict has "
            "float 0.125");
  EXPECT_EQ(
      error_of([&] {
        from_state_dict(Tree::dict({{"w", f32({0, 0}, {2})}}), map_of({{"w", int_value(1)}}), "f");
      }),
      "f: shape mismatch at path ./w: the template has float32[2] but the state dict has int 1");
}

// ---- strict (the default) and lenient (Flax's own from_state_dict) ----

const RestoreOptions kLenient{.strict = false};

TEST(FlaxSerialization, ExtraStateKeysAreAnErrorStrictAndDroppedLenient) {
  Tree templ = Tree::dict({{"kernel", f32({0}, {1})}, {"bias", f32({0}, {1})}});
  Tree saved =
      Tree::dict({{"bias", f32({2}, {1})}, {"extra", f32({9}, {1})}, {"kernel", f32({1}, {1})}});
  EXPECT_EQ(error_of([&] { (void)from_bytes(templ, to_bytes(saved), "f"); }),
            "f: the state dict has keys {'extra'} which the template does not have at path . "
            "(restore with RestoreOptions{.strict = false} to drop them, as Flax does)");
  // As Flax's _restore_dict: the result has the template's keys, in the template's order.
  Tree t = from_bytes(templ, to_bytes(saved), "f", kLenient);
  ASSERT_EQ(t.items().size(), 2u);
  EXPECT_EQ(t.items()[0].first, "kernel");
  EXPECT_EQ(t["kernel"].leaf().item<float>(), 1.f);
  EXPECT_EQ(t["bias"].leaf().item<float>(), 2.f);
}

TEST(FlaxSerialization, ShapeAndDtypeMismatchesAreErrorsStrictAndTakenFromTheFileLenient) {
  Tree templ = Tree::dict({{"w", f32({0, 0}, {2})}, {"n", i32({0}, {})}});
  Tree saved = Tree::dict({{"w", f32({1, 2, 3}, {3, 1})},
                           {"n", Array::from_data<int16_t>(std::vector<int16_t>{-4}, {})}});
  EXPECT_EQ(error_of([&] { (void)from_bytes(templ, to_bytes(saved), "f"); }),
            "f: shape mismatch at path ./w: the template has float32[2] but the state dict has "
            "float32[3,1]");
  Tree t = from_bytes(templ, to_bytes(saved), "f", kLenient);
  EXPECT_TRUE(t.equals(saved));
  EXPECT_EQ(t["n"].leaf().dtype(), int16);
}

TEST(FlaxSerialization, MissingKeysAndListLengthsAreErrorsInBothModes) {
  Tree templ = Tree::dict({{"a", f32({0}, {1})}, {"b", f32({0}, {1})}});
  Tree saved = Tree::dict({{"a", f32({0}, {1})}, {"c", f32({0}, {1})}});
  for (const RestoreOptions& o : {RestoreOptions{}, kLenient}) {
    EXPECT_EQ(error_of([&] { (void)from_bytes(templ, to_bytes(saved), "f", o); }),
              "f: The target dict keys and state dict keys do not match, target dict contains "
              "keys {'b'} which are not present in state dict at path .");
    Tree one = Tree::dict({{"l", Tree::list({f32({0}, {1})})}});
    Tree two = Tree::dict({{"l", Tree::list({f32({0}, {1}), f32({0}, {1})})}});
    EXPECT_EQ(error_of([&] { (void)from_bytes(one, to_bytes(two), "f", o); }),
              "f: The size of the list and the state dict do not match, got 1 and 2 at path ./l");
  }
}

TEST(FlaxSerialization, LenientNativeValuesKeepTheirOwnTypeWhereTheTemplatesDoesNotFit) {
  Tree templ = Tree::dict({{"step", i32({0}, {})}, {"big", i32({0}, {})}, {"w", f32({0, 0}, {2})}});
  StateValue half;
  half.kind = StateValue::Kind::floating;
  half.f = 0.5;
  StateValue state =
      map_of({{"step", int_value(3)}, {"big", int_value(int64_t{1} << 40)}, {"w", half}});
  Tree t = from_state_dict(templ, state, "f", kLenient);
  EXPECT_EQ(t["step"].leaf().dtype(), int32);  // fits the template: as strict
  EXPECT_EQ(t["step"].leaf().item<int32_t>(), 3);
  EXPECT_EQ(t["big"].leaf().dtype(), int64);  // does not fit: a Python int, int64
  EXPECT_EQ(t["big"].leaf().item<int64_t>(), int64_t{1} << 40);
  EXPECT_EQ(t["w"].leaf().dtype(), float32);  // 0-d, though the template has float32[2]
  EXPECT_EQ(t["w"].leaf().ndim(), 0);
  EXPECT_NE(error_of([&] { from_state_dict(templ, state, "f"); }).find("does not fit"),
            std::string::npos);
}

// ---- the new dtypes in native values ----

TEST(FlaxSerialization, PythonComplexRestoresIntoAComplexTemplate) {
  StateValue z;
  z.kind = StateValue::Kind::complex;
  z.f = 1.5;
  z.imag = -2;
  Tree templ = Tree::dict(
      {{"c64", Array::from_data<std::complex<float>>(std::vector<std::complex<float>>{{0, 0}}, {})},
       {"c128",
        Array::from_data<std::complex<double>>(std::vector<std::complex<double>>{{0, 0}}, {})}});
  Tree t = from_state_dict(templ, map_of({{"c64", z}, {"c128", z}}), "f");
  EXPECT_EQ(t["c64"].leaf().item<std::complex<float>>(), std::complex<float>(1.5f, -2.f));
  EXPECT_EQ(t["c128"].leaf().item<std::complex<double>>(), std::complex<double>(1.5, -2));
  EXPECT_EQ(error_of([&] {
              from_state_dict(Tree::dict({{"x", f32({0}, {})}}), map_of({{"x", z}}), "f");
            }),
            "f: dtype mismatch at path ./x: the template has float32[] but the state dict has "
            "complex (1.5-2j)");
  Tree lenient =
      from_state_dict(Tree::dict({{"x", f32({0}, {})}}), map_of({{"x", z}}), "f", kLenient);
  EXPECT_EQ(lenient["x"].leaf().dtype(), complex128);
}

TEST(FlaxSerialization, NativeIntsFitTheNewIntegerDtypesExactly) {
  auto restore = [](DType dt, StateValue v) {
    Tree templ = Tree::dict({{"n", Array::from_bytes(std::vector<uint8_t>(itemsize(dt)).data(),
                                                     itemsize(dt), dt, {})}});
    return from_state_dict(templ, map_of({{"n", std::move(v)}}), "f")["n"].leaf();
  };
  EXPECT_EQ(restore(int16, int_value(-32768)).item<int16_t>(), -32768);
  EXPECT_EQ(restore(uint16, int_value(65535)).item<uint16_t>(), 65535);
  EXPECT_NE(error_of([&] { restore(int16, int_value(32768)); }).find("does not fit"),
            std::string::npos);
  EXPECT_NE(error_of([&] { restore(uint16, int_value(-1)); }).find("does not fit"),
            std::string::npos);
  // Past int64: msgpack's uint64, which only uint64 holds.
  StateValue big;
  big.kind = StateValue::Kind::integer;
  big.i_unsigned = true;
  big.u = ~uint64_t{0};
  EXPECT_EQ(restore(uint64, big).item<uint64_t>(), ~uint64_t{0});
  EXPECT_NE(error_of([&] { restore(int64, big); }).find("does not fit the template's int64"),
            std::string::npos);
}

// ---- from_bytes errors ----

Tree dense_template() {
  return Tree::dict(
      {{"params", Tree::dict({{"Dense_0", Tree::dict({{"kernel", f32({0, 0, 0, 0, 0, 0}, {2, 3})},
                                                      {"bias", f32({0, 0, 0}, {3})}})}})}});
}

TEST(FlaxSerialization, MissingKeyNamesThePathAsFlaxDoes) {
  Tree saved = Tree::dict(
      {{"params",
        Tree::dict({{"Dense_0", Tree::dict({{"kernel", f32({0, 0, 0, 0, 0, 0}, {2, 3})}})}})}});
  std::string msg =
      error_of([&] { (void)from_bytes(dense_template(), to_bytes(saved), "ckpt.msgpack"); });
  EXPECT_EQ(
      msg,
      "ckpt.msgpack: The target dict keys and state dict keys do not match, target dict contains "
      "keys {'bias'} which are not present in state dict at path ./params/Dense_0");
}

TEST(FlaxSerialization, WrongShapeNamesPathExpectedAndFound) {
  Tree saved = dense_template();
  saved["params"]["Dense_0"]["kernel"] = f32({0, 0, 0, 0, 0, 0}, {3, 2});
  EXPECT_EQ(error_of([&] { (void)from_bytes(dense_template(), to_bytes(saved), "ckpt.msgpack"); }),
            "ckpt.msgpack: shape mismatch at path ./params/Dense_0/kernel: the template has "
            "float32[2,3] but the state dict has float32[3,2]");
}

TEST(FlaxSerialization, WrongDtypeNamesPathExpectedAndFound) {
  Tree saved = dense_template();
  saved["params"]["Dense_0"]["bias"] = Array::from_data<double>(std::vector<double>{0, 0, 0}, {3});
  EXPECT_EQ(error_of([&] { (void)from_bytes(dense_template(), to_bytes(saved), "ckpt.msgpack"); }),
            "ckpt.msgpack: dtype mismatch at path ./params/Dense_0/bias: the template has "
            "float32[3] but the state dict has float64[3]");
}

TEST(FlaxSerialization, StructureMismatchesNameWhatWasFound) {
  Tree templ = Tree::dict({{"layers", Tree::list({f32({0}, {1})})}});
  Tree two = Tree::dict({{"layers", Tree::list({f32({0}, {1}), f32({0}, {1})})}});
  // Flax's _restore_list message.
  EXPECT_EQ(
      error_of([&] { (void)from_bytes(templ, to_bytes(two), "f"); }),
      "f: The size of the list and the state dict do not match, got 1 and 2 at path ./layers");
  Tree leaf = Tree::dict({{"layers", f32({0}, {1})}});
  EXPECT_EQ(error_of([&] { (void)from_bytes(templ, to_bytes(leaf), "f"); }),
            "f: at path ./layers the template has a list of 1 but the state dict has an array "
            "float32[1]");
  EXPECT_EQ(error_of([&] { (void)from_bytes(leaf, to_bytes(templ), "f"); }),
            "f: at path ./layers the template has an array float32[1] but the state dict has a map "
            "with 1 entry");
}

TEST(FlaxSerialization, BrokenBytesFailWithTheSourceAndOffset) {
  auto bytes = to_bytes(dense_template());
  auto cut = std::vector<uint8_t>(bytes.begin(), bytes.begin() + 40);
  std::string msg = error_of([&] { (void)from_bytes(dense_template(), cut, "ckpt.msgpack"); });
  EXPECT_EQ(msg.rfind("ckpt.msgpack, byte offset ", 0), 0u) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  std::string junk = error_of([&] { (void)from_bytes(dense_template(), hex("c1 00"), "x"); });
  EXPECT_EQ(junk, "x, byte offset 0: byte 0xc1 is not a msgpack type (is this a msgpack file?)");
}

TEST(FlaxSerialization, ChunkedArraysRestoreAsFlaxWritesThem) {
  // Flax splits arrays over 2**30 bytes (_chunk); the same layout with 8-byte chunks: a (1, 5)
  // float32 array becomes flat chunks of 2, 2 and 1 elements, the shape a map {"0": 1, "1": 5}.
  Array a = f32({1, 2, 3, 4, 5}, {1, 5});
  StateValue chunked = chunk_array(a, 8);
  EXPECT_EQ(to_hex(encode(chunked)),
            to_hex(hex("83 b9 '__msgpack_chunked_array__' c3 a5 'shape' 82 a1 30 01 a1 31 05"
                       " a6 'chunks' 83"
                       " a1 30 c7 15 01 93 91 02 a7 'float32' c4 08 00 00 80 3f 00 00 00 40"
                       " a1 31 c7 15 01 93 91 02 a7 'float32' c4 08 00 00 40 40 00 00 80 40"
                       " a1 32 c7 11 01 93 91 01 a7 'float32' c4 04 00 00 a0 40")));
  Tree templ = Tree::dict({{"emb", f32({0, 0, 0, 0, 0}, {1, 5})}});
  Tree t = from_bytes(templ, encode(map_of({{"emb", chunked}})));
  EXPECT_TRUE(t["emb"].leaf().shape() == (Shape{1, 5}));
  EXPECT_EQ(t["emb"].leaf().to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5}));
  // A chunked map whose chunks do not add up.
  chunked.map->entries[2].second.map->entries.pop_back();
  EXPECT_EQ(error_of([&] {
              from_state_dict(templ, map_of({{"emb", chunked}}), "f");
            }),
            "f: at path ./emb: malformed chunked array: its chunks hold 4 elements but its shape "
            "(1, 5) needs 5");
}

// ---- files ----

class FlaxSerializationFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_io_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Everything in the directory: a failed write must leave no temporary file behind.
  std::vector<std::string> listing() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

TEST_F(FlaxSerializationFiles, SaveLoadRoundTrip) {
  Tree t = dense_template();
  t["params"]["Dense_0"]["kernel"] = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  fs::path p = dir_ / "ckpt.msgpack";
  save(p, t);
  EXPECT_TRUE(load(p, dense_template()).equals(t));
  EXPECT_TRUE(read_file(p) == to_bytes(t));
  // Overwriting replaces the file whole.
  save(p, dense_template());
  EXPECT_TRUE(read_file(p) == to_bytes(dense_template()));
  EXPECT_EQ(listing(), (std::vector<std::string>{"ckpt.msgpack"}));
}

TEST_F(FlaxSerializationFiles, SaveIntoAMissingDirectoryFails) {
  fs::path p = dir_ / "no_such_dir" / "ckpt.msgpack";
  EXPECT_EQ(error_of([&] { save(p, dense_template()); }),
            "cannot write " + p.string() + ": No such file or directory");
  EXPECT_TRUE(listing().empty());
}

TEST_F(FlaxSerializationFiles, SaveOntoADirectoryLeavesItUntouched) {
  fs::path p = dir_ / "ckpt.msgpack";
  fs::create_directory(p);
  std::ofstream(p / "inside") << "keep";
  EXPECT_EQ(error_of([&] { save(p, dense_template()); }),
            "cannot write " + p.string() + ": Is a directory");
  EXPECT_TRUE(fs::is_directory(p));
  EXPECT_TRUE(fs::exists(p / "inside"));
  EXPECT_EQ(listing(), (std::vector<std::string>{"ckpt.msgpack"}));
}

TEST_F(FlaxSerializationFiles, AFailedSaveLeavesTheOldFile) {
  fs::path p = dir_ / "ckpt.msgpack";
  save(p, dense_template());
  auto before = read_file(p);
  // An empty Array cannot be encoded: the save fails before anything reaches the disk.
  Tree bad = dense_template();
  bad["params"]["Dense_0"]["bias"] = Array();
  EXPECT_NE(error_of([&] { save(p, bad); }), "");
  EXPECT_TRUE(read_file(p) == before);
  EXPECT_EQ(listing(), (std::vector<std::string>{"ckpt.msgpack"}));
}

TEST_F(FlaxSerializationFiles, AnUnwritableDirectoryLeavesTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  fs::path p = dir_ / "ckpt.msgpack";
  save(p, dense_template());
  auto before = read_file(p);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  std::string msg = error_of([&] { save(p, Tree::dict()); });
  fs::permissions(dir_, fs::perms::owner_all);
  EXPECT_EQ(msg, "cannot write " + p.string() + ": Permission denied");
  EXPECT_TRUE(read_file(p) == before);
}

TEST_F(FlaxSerializationFiles, ReadingAMissingFileNamesIt) {
  fs::path p = dir_ / "absent.msgpack";
  EXPECT_EQ(error_of([&] { read_file(p); }),
            "cannot read " + p.string() + ": No such file or directory");
  EXPECT_EQ(error_of([&] { (void)load(p, dense_template()); }),
            "cannot read " + p.string() + ": No such file or directory");
  EXPECT_EQ(error_of([&] { read_file(dir_); }),
            "cannot read " + dir_.string() + ": Is a directory");
}

}  // namespace
}  // namespace kiln
