// The JAX corpus (tests/corpus/make_corpus.py): programs written with jax.numpy and lax, exported
// by real JAX, imported by kiln, run on its cpu backend and compared with JAX's outputs. The test
// prints the share that imports and matches, by area, op and dtype; it fails when a program
// outside tests/corpus/expected_failures.txt fails, or when one listed there passes (the list
// then overstates what is missing: take the line out).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/import.hpp"
#include "kiln/kiln.hpp"
#include "kiln/serialization.hpp"
#include "support/run_graph.hpp"

namespace kiln {
namespace {

const std::filesystem::path kCorpus = std::filesystem::path(KILN_SOURCE_DIR) / "tests" / "corpus";

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string key(size_t i) {
  return (i < 10 ? "0" : "") + std::to_string(i);
}

// The real floating type under a dtype: itself, or a complex's component.
DType component(DType t) {
  if (t == DType::complex64) return DType::float32;
  if (t == DType::complex128) return DType::float64;
  return t;
}

double as_double(const uint8_t* p, DType t) {
  switch (t) {
    case DType::bfloat16:
      return to_float(std::bit_cast<bf16>(*reinterpret_cast<const uint16_t*>(p)));
    case DType::float16:
      return to_float(std::bit_cast<f16>(*reinterpret_cast<const uint16_t*>(p)));
    case DType::float32:
      return *reinterpret_cast<const float*>(p);
    default:
      return *reinterpret_cast<const double*>(p);
  }
}

// How many units in the last place of `want`'s dtype separate got from want (inf: one is NaN or
// infinite and the other is not the same).
double ulps(double got, double want, DType t) {
  if (std::isnan(got) && std::isnan(want)) return 0;
  if (!std::isfinite(got) || !std::isfinite(want)) return got == want ? 0 : INFINITY;
  const int mantissa = t == DType::bfloat16  ? 7
                       : t == DType::float16 ? 10
                       : t == DType::float32 ? 23
                                             : 52;
  const int min_exponent = t == DType::float16 ? -14 : t == DType::float64 ? -1022 : -126;
  const int e = want == 0 ? min_exponent : std::max(std::ilogb(want), min_exponent);
  return std::abs(got - want) / std::ldexp(1.0, e - mantissa);
}

// "" when got equals want (bit for bit, or floats within max_ulp), else what differs first.
std::string compare(const Array& got, const Array& want, int max_ulp) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape())
    return "result " + std::string(name(got.dtype())) + got.shape().str() + ", JAX's " +
           std::string(name(want.dtype())) + want.shape().str();
  const DType t = got.dtype();
  const size_t n = static_cast<size_t>(got.size()) * itemsize(t);
  std::vector<uint8_t> a(n), b(n);
  got.copy_to_host(a.data(), t);
  want.copy_to_host(b.data(), t);
  if (a == b) return "";
  const DType c = component(t);
  if (!is_floating(c)) {
    const size_t w = itemsize(t);
    for (size_t i = 0; i < n; i += w)
      if (std::memcmp(&a[i], &b[i], w) != 0)
        return "element " + std::to_string(i / w) + " differs (" + got.str().substr(0, 80) +
               " vs JAX " + want.str().substr(0, 80) + ")";
  }
  const size_t w = itemsize(c);
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < n; i += w) {
    if (std::memcmp(&a[i], &b[i], w) == 0) continue;
    const double u = max_ulp == 0 ? INFINITY : ulps(as_double(&a[i], c), as_double(&b[i], c), c);
    if (u > worst) worst = u, worst_at = i / w;
  }
  if (worst <= max_ulp) return "";
  std::ostringstream s;
  s << "element " << worst_at << (is_complex(t) ? " (a component)" : "") << ": "
    << as_double(&a[worst_at * w], c) << " vs JAX " << as_double(&b[worst_at * w], c) << " ("
    << (std::isinf(worst) ? std::string("not within any ulp") : std::to_string(worst) + " ulp")
    << ", allowed " << max_ulp << ")";
  return s.str();
}

// What happened to one program: "" when it imported and matched.
std::string run_program(const std::string& name, int max_ulp) {
  ir::Graph g;
  try {
    g = from_stablehlo(read_text(kCorpus / "data" / (name + ".mlir")), name + ".mlir");
  } catch (const Error& e) {
    return "import: " + std::string(e.what());
  }
  Tree inputs, outputs;
  for (size_t i = 0; i < g.inputs.size(); ++i)
    inputs.entry(key(i)) = zeros(g.type(g.inputs[i]).shape, g.type(g.inputs[i]).dtype);
  for (size_t i = 0; i < g.outputs.size(); ++i)
    outputs.entry(key(i)) = zeros(g.type(g.outputs[i]).shape, g.type(g.outputs[i]).dtype);
  Tree io;
  try {
    io = serialization::from_bytes(
        Tree::dict({{"inputs", inputs}, {"outputs", outputs}}),
        serialization::read_file(kCorpus / "data" / (name + "_io.msgpack")));
  } catch (const Error& e) {
    return "the graph's types disagree with JAX's values: " + std::string(e.what());
  }
  std::vector<Array> args;
  for (size_t i = 0; i < g.inputs.size(); ++i) args.push_back(io["inputs"][key(i)].leaf());
  std::vector<Array> got;
  try {
    got = testing::run_graph(g, args);
  } catch (const Error& e) {
    return "run: " + std::string(e.what());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string d = compare(got[i], io["outputs"][key(i)].leaf(), max_ulp);
    if (!d.empty()) return "output " + std::to_string(i) + ": " + d;
  }
  return "";
}

struct Tally {
  int passed = 0, total = 0;
  void add(bool ok) { passed += ok, ++total; }
};

std::string first_line(const std::string& s) {
  return s.substr(0, std::min(s.find('\n'), size_t{160}));
}

TEST(JaxCorpus, ImportsAndMatchesJax) {
  std::map<std::string, std::string> expected;  // program -> why it fails today
  {
    std::istringstream in(read_text(kCorpus / "expected_failures.txt"));
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const size_t colon = line.find(':');
      expected[line.substr(0, colon)] = colon == std::string::npos ? "" : line.substr(colon + 1);
    }
  }
  std::map<std::string, Tally> by_area, by_op, by_dtype;
  Tally all;
  std::set<std::string> seen;
  std::vector<std::string> unexpected;
  std::ostringstream failures;
  std::vector<std::filesystem::path> metas;
  for (const auto& e : std::filesystem::directory_iterator(kCorpus / "data"))
    if (e.path().extension() == ".json") metas.push_back(e.path());
  std::sort(metas.begin(), metas.end());
  ASSERT_FALSE(metas.empty()) << "no programs in " << (kCorpus / "data");
  for (const auto& path : metas) {
    const std::string name = path.stem().string();
    seen.insert(name);
    const nlohmann::json meta = nlohmann::json::parse(read_text(path));
    const std::string outcome = run_program(name, meta.value("ulp", 0));
    const bool ok = outcome.empty();
    all.add(ok);
    by_area[meta.value("area", "?")].add(ok);
    for (const auto& op : meta["ops"]) by_op[op.get<std::string>()].add(ok);
    for (const auto& t : meta["dtypes"]) by_dtype[t.get<std::string>()].add(ok);
    if (!ok) failures << "  " << name << ": " << first_line(outcome) << "\n";
    if (ok && expected.count(name))
      unexpected.push_back(name +
                           " now imports and matches JAX: take it out of expected_failures.txt");
    if (!ok && !expected.count(name)) unexpected.push_back(name + ": " + outcome);
  }
  for (const auto& [name, why] : expected)
    if (!seen.count(name))
      unexpected.push_back(name + " is in expected_failures.txt but not in the corpus");

  auto table = [](const char* title, const std::map<std::string, Tally>& rows) {
    std::ostringstream s;
    s << "| " << title << " | imports and matches |\n|---|---|\n";
    for (const auto& [k, t] : rows)
      s << "| " << k << " | " << t.passed << " / " << t.total << " |\n";
    return s.str();
  };
  std::cout << "JAX corpus: " << all.passed << " of " << all.total
            << " programs import and match JAX\n\n"
            << table("area", by_area) << "\n"
            << table("op", by_op) << "\n"
            << table("dtype", by_dtype) << "\nfailing:\n"
            << failures.str();
  for (const std::string& u : unexpected) ADD_FAILURE() << u;
}

}  // namespace
}  // namespace kiln
