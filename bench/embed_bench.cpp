// embed_bench: nn::Embed's lookup time against the vocabulary size — the gather it is now and the
// one-hot product it was before (ids · onehot(vocab) · table), in the same run.
//
//   embed_bench [--quick] [--markdown]
//
// A batch of 256 ids looks up 64 features in tables of 1k, 10k, 100k and 1M rows (float32). Each
// time is the median of repeated batches of jitted calls (bench/harness.hpp), in µs per lookup.
// The one-hot form is timed up to 100k rows (at 1M its 256 × 1M one-hot matrix alone is 1 GB).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kiln/indexing.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace {

using kiln::Array;

// nn::Embed before it had a gather: onehot[..., n] = (id == n), then dot_general over n.
Array one_hot_lookup(const Array& table, const Array& ids) {
  const int64_t n = table.shape()[0];
  kiln::Shape s = ids.shape();
  s.push_back(n);
  Array rows = kiln::iota(ids.dtype(), s, ids.ndim());
  Array hit = kiln::equal(kiln::expand_dims(ids, ids.ndim()), rows);
  kiln::ir::DotDims dims;
  dims.lhs_contract = {ids.ndim()};
  dims.rhs_contract = {0};
  return kiln::dot_general(kiln::astype(hit, table.dtype()), table, dims);
}

Array gather_lookup(const Array& table, const Array& ids) {
  return kiln::take(table, ids, 0);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, markdown = false;
  for (int i = 1; i < argc; ++i) {
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
    markdown = markdown || std::strcmp(argv[i], "--markdown") == 0;
  }
  const kiln_bench::Repetitions reps =
      quick ? kiln_bench::Repetitions{3, 0.002} : kiln_bench::Repetitions{};
  const int64_t batch = 256, features = 64;
  const std::vector<int64_t> vocabs = quick ? std::vector<int64_t>{1000, 10000}
                                            : std::vector<int64_t>{1000, 10000, 100000, 1000000};
  auto gather_fn = kiln::jit(gather_lookup);
  auto one_hot_fn = kiln::jit(one_hot_lookup);
  std::printf(markdown ? "| vocabulary | gather (µs) | one-hot (µs) |\n|---|---|---|\n"
                       : "%10s %14s %14s\n",
              "vocabulary", "gather (us)", "one-hot (us)");
  for (int64_t v : vocabs) {
    Array table = kiln::random::normal(kiln::random::key(0), kiln::Shape{v, features});
    std::vector<int32_t> id(static_cast<size_t>(batch));
    for (size_t i = 0; i < id.size(); ++i)
      id[i] = static_cast<int32_t>((static_cast<int64_t>(i) * 7919) % v);
    Array ids = kiln::array(std::span<const int32_t>(id), kiln::Shape{batch});
    // The two agree: a one-hot product with one 1 per row is exact.
    const std::vector<float> a = gather_fn(table, ids).to_vector<float>();
    const bool try_one_hot = v <= 100000;
    if (try_one_hot && a != one_hot_fn(table, ids).to_vector<float>()) {
      std::fprintf(stderr, "embed_bench: the two lookups differ at vocabulary %lld\n",
                   static_cast<long long>(v));
      return 1;
    }
    const double g =
        kiln_bench::time_per_call([&] { (void)gather_fn(table, ids).to_vector<float>(); }, reps)
            .median_ns /
        1e3;
    std::string o = "-";
    if (try_one_hot) {
      const double t =
          kiln_bench::time_per_call([&] { (void)one_hot_fn(table, ids).to_vector<float>(); }, reps)
              .median_ns /
          1e3;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f", t);
      o = buf;
    }
    std::printf(markdown ? "| %lld | %.1f | %s |\n" : "%10lld %14.1f %14s\n",
                static_cast<long long>(v), g, o.c_str());
  }
  return 0;
}
