// Writes the seed corpora of the fuzz targets: small valid files in the layouts Flax writes.
//   build-fuzz/bin/make_seed_corpus fuzz/corpus
// writes fuzz/corpus/msgpack_decode_fuzzer/*, fuzz/corpus/flax_from_bytes_fuzzer/* and
// fuzz/corpus/safetensors_fuzzer/* (no .msgpack extension: .gitignore ignores *.msgpack).
// The files are committed; rerun this only when the formats or the templates change.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_templates.hpp"
#include "io/chunked_array.hpp"
#include "kiln/export.hpp"
#include "kiln/kiln.hpp"
#include "kiln/models.hpp"
#include "kiln/serialization.hpp"
#if __has_include("kiln/safetensors.hpp")
#include "kiln/safetensors.hpp"
#define KILN_FUZZ_HAVE_SAFETENSORS 1
#endif

namespace fs = std::filesystem;
namespace ks = kiln::serialization;
using kiln::Tree;
using ks::StateValue;

namespace {

StateValue map(std::vector<std::pair<std::string, StateValue>> entries) {
  StateValue v;
  v.kind = StateValue::Kind::map;
  v.map = std::make_shared<StateValue::Map>();
  v.map->entries = std::move(entries);
  return v;
}
StateValue integer(int64_t x) {
  StateValue v;
  v.kind = StateValue::Kind::integer;
  v.i = x;
  v.u = static_cast<uint64_t>(x);
  return v;
}
StateValue big_unsigned(uint64_t x) {
  StateValue v;
  v.kind = StateValue::Kind::integer;
  v.u = x;
  v.i_unsigned = true;
  return v;
}
StateValue floating(double x, bool single) {
  StateValue v;
  v.kind = StateValue::Kind::floating;
  v.f = x;
  v.f_single = single;
  return v;
}
StateValue boolean(bool b) {
  StateValue v;
  v.kind = StateValue::Kind::boolean;
  v.b = b;
  return v;
}
StateValue string(std::string s) {
  StateValue v;
  v.kind = StateValue::Kind::string;
  v.s = std::move(s);
  return v;
}
StateValue array(kiln::Array a, bool scalar = false) {
  StateValue v;
  v.kind = scalar ? StateValue::Kind::scalar : StateValue::Kind::array;
  v.array = std::move(a);
  return v;
}
StateValue& at(StateValue& m, const std::string& key) {
  for (auto& [k, v] : m.map->entries)
    if (k == key) return v;
  throw std::runtime_error("no key " + key);
}

void write(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  std::printf("%s/%s: %zu bytes\n", dir.c_str(), name.c_str(), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const fs::path decode_dir = root / "msgpack_decode_fuzzer";
  const fs::path restore_dir = root / "flax_from_bytes_fuzzer";
  using kiln_fuzz::patterned;

  // A Flax params tree, as flax.serialization.to_bytes writes it.
  const auto params = ks::to_bytes(kiln_fuzz::params_template());
  write(decode_dir, "params", params);
  write(restore_dir, "params", params);

  // A TrainState with native msgpack leaves where Flax writes Python values: step an int (as
  // TrainState.create leaves it), a Python float and bool.
  StateValue ts = ks::to_state_dict(kiln_fuzz::train_state_template());
  at(ts, "step") = integer(1000);
  at(at(ts, "extra"), "f64") = floating(0.125, false);
  at(at(ts, "extra"), "flag") = boolean(true);
  at(at(ts, "extra"), "i64") = integer(-70000);
  write(decode_dir, "train_state_native", ks::encode(ts));
  write(restore_dir, "train_state_native", ks::encode(ts));

  // The same TrainState with numpy scalars (ext 3) for step and count, and the kernel of Dense_0
  // in Flax's chunked layout (4-byte chunks here; Flax chunks at 2**30 bytes).
  StateValue ts3 = ks::to_state_dict(kiln_fuzz::train_state_template());
  at(ts3, "step") = array(patterned(kiln::int32, {}, 5), true);
  at(at(at(ts3, "opt_state"), "0"), "count") = array(patterned(kiln::int32, {}, 6), true);
  at(at(at(ts3, "params"), "params"), "Dense_0") =
      map({{"bias", array(patterned(kiln::float32, {4}))},
           {"kernel", ks::chunk_array(patterned(kiln::float32, {3, 4}, 7), 16)}});
  write(decode_dir, "train_state_scalar_chunked", ks::encode(ts3));
  write(restore_dir, "train_state_scalar_chunked", ks::encode(ts3));

  // Every native msgpack kind, in each of its encodings, and numpy scalars of every dtype.
  StateValue natives = map({
      {"nil", StateValue{}},
      {"true", boolean(true)},
      {"false", boolean(false)},
      {"fixint", integer(5)},
      {"neg_fixint", integer(-3)},
      {"uint8", integer(200)},
      {"uint16", integer(60000)},
      {"uint32", integer(4000000000)},
      {"int64", integer(-5000000000)},
      {"uint64", big_unsigned(18000000000000000000ull)},
      {"float32", floating(1.5, true)},
      {"float64", floating(-2.25, false)},
      {"str", string("adam")},
      {"str8", string(std::string(40, 'x'))},
      {"list", map({{"0", integer(1)}, {"1", string("two")}})},
  });
  StateValue scalars = map({});
  for (kiln::DType dt : {kiln::bool_, kiln::uint8, kiln::uint32, kiln::int8, kiln::int32,
                         kiln::int64, kiln::bfloat16, kiln::float16, kiln::float32, kiln::float64})
    scalars.map->entries.emplace_back(std::string(kiln::name(dt)),
                                      array(patterned(dt, {}, 1), true));
  natives.map->entries.emplace_back("scalars", std::move(scalars));
  write(decode_dir, "natives_scalars", ks::encode(natives));

  // Arrays (ext 1) and numpy scalars (ext 3) of every dtype, and a Python complex (ext 2).
  StateValue every = map({});
  for (int i = 0; i < kiln::kNumDTypes; ++i) {
    const auto dt = static_cast<kiln::DType>(i);
    const std::string n(kiln::name(dt));
    every.map->entries.emplace_back(n, array(patterned(dt, {2}, static_cast<uint8_t>(3 * i))));
    every.map->entries.emplace_back(n + "_scalar", array(patterned(dt, {}, 1), true));
  }
  StateValue python_complex;
  python_complex.kind = StateValue::Kind::complex;
  python_complex.f = 1.5;
  python_complex.imag = -2;
  every.map->entries.emplace_back("python_complex", python_complex);
  write(decode_dir, "every_dtype", ks::encode(every));

  // A chunked array on its own, with a 0-d and an empty array beside it.
  StateValue chunked = map({{"w", ks::chunk_array(patterned(kiln::float16, {2, 3}, 3), 4)},
                            {"zero_d", array(patterned(kiln::float64, {}))},
                            {"empty", array(patterned(kiln::int8, {0, 3}))}});
  write(decode_dir, "chunked", ks::encode(chunked));

  // Nesting at the reader's depth limit (64 maps).
  StateValue deep = map({});
  for (int i = 1; i < 64; ++i) deep = map({{"d", std::move(deep)}});
  write(decode_dir, "deep64", ks::encode(deep));

#ifdef KILN_FUZZ_HAVE_SAFETENSORS
  // safetensors files: a plain params tree, one with a user __metadata__, and the state dicts
  // above, whose layout (native values, ext 3 scalars, chunked arrays, EmptyState, key order)
  // rides in __metadata__ as kiln.flax_state_dict JSON.
  namespace st = kiln::safetensors;
  const fs::path st_dir = root / "safetensors_fuzzer";
  write(st_dir, "params", st::encode(st::from_tree(kiln_fuzz::params_template())));
  write(st_dir, "params_metadata",
        st::encode(st::from_tree(kiln_fuzz::params_template(),
                                 st::Metadata{{"format", "flax"}, {"step", "1000"}})));
  write(st_dir, "train_state_native", st::encode(st::from_state_dict(ts)));
  write(st_dir, "train_state_scalar_chunked", st::encode(st::from_state_dict(ts3)));
  write(st_dir, "natives_scalars", st::encode(st::from_state_dict(natives)));
  // safetensors has no complex128.
  std::erase_if(every.map->entries,
                [](const auto& e) { return e.first.rfind("complex128", 0) == 0; });
  write(st_dir, "every_dtype", st::encode(st::from_state_dict(every)));
#endif

  // StableHLO modules as kiln exports them: the built-in models (weights as arguments), and
  // small functions whose ops carry attributes: argmax's two-operand reduce, pooling, and the
  // select_and_scatter of max pooling's gradient.
  const fs::path shlo_dir = root / "stablehlo_import_fuzzer";
  auto text = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  for (const std::string name : {"mlp", "cnn"}) {
    const kiln::models::ImageClassifier m = kiln::models::image_classifier(name);
    const kiln::Array x = name == "cnn" ? kiln::zeros({2, 28, 28, 1}) : kiln::zeros({2, 784});
    const Tree vars = m.init(kiln::random::key(0), x);
    auto apply = kiln::jit(
        [m](const Tree& v, const kiln::Array& in) { return m.apply(v, in, false, kiln::Array()); },
        {.name = name});
    write(shlo_dir, name, text(kiln::export_stablehlo(apply, vars, x)));
  }
  const kiln::Array img = kiln::zeros({1, 6, 6, 2});
  write(shlo_dir, "argmax",
        text(kiln::export_stablehlo(
            kiln::jit([](const kiln::Array& a) { return kiln::argmax(a, 1); }),
            kiln::zeros({3, 5}))));
  write(shlo_dir, "pooling",
        text(kiln::export_stablehlo(kiln::jit([](const kiln::Array& a) {
                                      return kiln::nn::avg_pool(a, {2, 2}, {1, 1}, "SAME") +
                                             kiln::nn::max_pool(a, {3, 3}, {1, 1}, "SAME");
                                    }),
                                    img)));
  write(shlo_dir, "max_pool_grad",
        text(kiln::export_stablehlo(kiln::jit(kiln::grad([](const kiln::Array& a) {
                                      return kiln::sum(kiln::nn::max_pool(a, {2, 2}, {2, 2}));
                                    })),
                                    img)));
  return 0;
}
