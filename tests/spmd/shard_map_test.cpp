// shard_map and the collectives against JAX's own results (tests/spmd/data/collectives.json,
// made by tests/spmd/make_collective_references.py on 8 XLA CPU devices), on meshes of 2, 4
// and 8 of kiln's cpu devices and one 2x4 mesh. ctest runs these with KILN_CPU_DEVICES=8
// (Spmd.EightCpuDevices); in a process with fewer devices they skip.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "kiln/kiln.hpp"
#include "spmd/cpu_devices.hpp"

namespace kiln {
namespace {

const std::filesystem::path kCollectives =
    std::filesystem::path(KILN_SOURCE_DIR) / "tests/spmd/data/collectives.json";

// The script's weights(shape): (arange % 7 - 3) / 4.
Array weights(int64_t rows, int64_t cols) {
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i % 7) - 3) / 4;
  return Array::from_data<float>(w, {rows, cols});
}

using Body = std::function<Array(const Array&)>;

// The kiln function of each case of the script, for a mesh axis of n devices.
Body body_of(const std::string& name, int64_t n) {
  std::vector<std::pair<int64_t, int64_t>> ring;
  for (int64_t j = 0; j < n; ++j) ring.emplace_back(j, (j + 1) % n);
  const Array w_gather = weights(2 * n, 3), w_a2a = weights(2, 3 * n);
  const Array w_ppermute = slice(w_gather, {0, 0}, {2, 3});
  static const std::map<
      std::string,
      std::function<Body(int64_t, std::vector<std::pair<int64_t, int64_t>>, Array, Array, Array)>>
      table = {
          {"psum",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return psum(x, "i"); };
           }},
          {"pmean",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return pmean(x, "i"); };
           }},
          {"pmax",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return pmax(x, "i"); };
           }},
          {"all_gather",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return all_gather(x, "i"); };
           }},
          {"all_gather_tiled_axis1",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return all_gather(x, "i", 1, true); };
           }},
          {"psum_scatter_tiled",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return psum_scatter(x, "i", 0, true); };
           }},
          {"psum_scatter",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return psum_scatter(x, "i"); };
           }},
          {"all_to_all_tiled",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return all_to_all(x, "i", 0, 1, true); };
           }},
          {"all_to_all",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return all_to_all(x, "i", 0, 1); };
           }},
          {"ppermute_ring",
           [](auto, auto ring, auto, auto, auto) -> Body {
             return [ring](const Array& x) { return ppermute(x, "i", ring); };
           }},
          {"ppermute_partial",
           [](int64_t n, auto, auto, auto, auto) -> Body {
             return [n](const Array& x) { return ppermute(x, "i", {{0, n - 1}, {n - 1, 0}}); };
           }},
          {"axis_index",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return x + astype(axis_index("i"), float32); };
           }},
          {"grad_psum",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) {
               return grad([](const Array& z) { return sum(square(psum(z, "i"))); })(x);
             };
           }},
          {"grad_pmean",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) {
               return grad([](const Array& z) {
                 Array m = pmean(z, "i");
                 return sum(m * m * m);
               })(x);
             };
           }},
          {"grad_all_gather",
           [](auto, auto, auto, Array w, auto) -> Body {
             return [w](const Array& x) {
               return grad(
                   [&](const Array& z) { return sum(square(all_gather(z, "i", 0, true)) * w); })(x);
             };
           }},
          {"grad_psum_scatter",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) {
               return grad([](const Array& z) {
                 Array s = psum_scatter(z, "i", 0, true);
                 return sum(s * s * s);
               })(x);
             };
           }},
          {"grad_all_to_all",
           [](auto, auto, auto, auto, Array w) -> Body {
             return [w](const Array& x) {
               return grad([&](const Array& z) {
                 return sum(square(all_to_all(z, "i", 0, 1, true)) * w);
               })(x);
             };
           }},
          {"grad_ppermute",
           [](auto, auto ring, Array w, auto, auto) -> Body {
             return [ring, w](const Array& x) {
               return grad([&](const Array& z) { return sum(sin(ppermute(z, "i", ring)) * w); })(x);
             };
           }},
          {"mesh2d_psum_y",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return psum(x, "y"); };
           }},
          {"mesh2d_psum_xy",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return psum(x, {"x", "y"}); };
           }},
          {"mesh2d_all_gather_x",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return all_gather(x, "x", 0, true); };
           }},
          {"mesh2d_axis_index_xy",
           [](auto, auto, auto, auto, auto) -> Body {
             return [](const Array& x) { return x + astype(axis_index({"x", "y"}), float32); };
           }},
      };
  auto it = table.find(name);
  if (it == table.end()) return nullptr;
  return it->second(n, ring, w_ppermute, w_gather, w_a2a);
}

PartitionSpec spec_of(const nlohmann::json& j) {
  std::vector<PartitionSpec::Entry> entries;
  for (const auto& e : j) {
    if (e.is_null())
      entries.emplace_back(None);
    else if (e.is_string())
      entries.emplace_back(e.get<std::string>());
    else
      entries.emplace_back(e.get<std::vector<std::string>>());
  }
  return PartitionSpec(std::move(entries));
}

TEST(Spmd, EveryCollectiveMatchesJaxOnMeshesOf2_4_8AndA2x4Mesh) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  std::ifstream in(kCollectives);
  ASSERT_TRUE(in) << kCollectives;
  const nlohmann::json refs = nlohmann::json::parse(in);
  const std::vector<Device> devs = testing::first_cpu_devices(8);
  int checked = 0;
  for (const auto& c : refs["cases"]) {
    const std::string name = c["name"];
    const auto mesh_shape = c["mesh_shape"].get<std::vector<int64_t>>();
    int64_t n = 1;
    for (int64_t s : mesh_shape) n *= s;
    SCOPED_TRACE(name + " on " + std::to_string(n) + " devices");
    const Body body = body_of(name, mesh_shape[0]);
    ASSERT_TRUE(body) << "no kiln body for case " << name;
    const Mesh mesh(std::vector<Device>(devs.begin(), devs.begin() + n), mesh_shape,
                    c["axis_names"].get<std::vector<std::string>>());
    const auto xs = c["x"].get<std::vector<float>>();
    const Array x = Array::from_data<float>(xs, Shape(c["x_shape"].get<std::vector<int64_t>>()));
    auto f = shard_map(body, mesh, spec_of(c["in_spec"]), spec_of(c["out_spec"]));
    const Array y = f(x);
    EXPECT_EQ(y.shape(), Shape(c["out_shape"].get<std::vector<int64_t>>()));
    const auto want = c["out"].get<std::vector<float>>();
    const auto got = y.to_vector<float>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k)
      EXPECT_NEAR(got[k], want[k], 1e-5 * (1 + std::abs(want[k]))) << "element " << k;
    ++checked;
  }
  EXPECT_EQ(checked, 58);
}

TEST(Spmd, ShardMapResultIsShardedAsOutSpecsSay) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const std::vector<Device> all = testing::first_cpu_devices(8);
  const Mesh mesh(std::vector<Device>(all.begin(), all.begin() + 4), {"i"});
  const Array x = reshape(astype(arange(8), float32), {8, 1});
  const Array y = shard_map([](const Array& b) { return b * 2.0; }, mesh, P("i"), P("i"))(x);
  ASSERT_TRUE(y.sharding().is_named());
  EXPECT_EQ(y.sharding().str(), "NamedSharding(mesh=Mesh('i': 4), spec=PartitionSpec('i',))");
  const std::vector<Shard> shards = y.addressable_shards();
  ASSERT_EQ(shards.size(), 4u);
  EXPECT_EQ(shards[3].device, devices("cpu")[3]);
  EXPECT_EQ(shards[3].index, (std::vector<std::pair<int64_t, int64_t>>{{6, 8}, {0, 1}}));
  EXPECT_EQ(shards[3].data.to_vector<float>(), (std::vector<float>{12, 14}));
  EXPECT_EQ(shards[3].data.device(), devices("cpu")[3]);
}

TEST(Spmd, CollectiveOutsideShardMapNamesTheLine) {
  const Array x = ones({2}, float32);
  const Loc loc = Loc::current();
  try {
    (void)psum(x, "i", loc);
    FAIL() << "psum outside shard_map ran";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("outside of shard_map"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shard_map_test.cpp:" + std::to_string(loc.line())), std::string::npos)
        << msg;
  }
}

TEST(Spmd, ShardMapArgumentItsSpecCannotSplitNamesTheCall) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const std::vector<Device> all = testing::first_cpu_devices(8);
  const Mesh mesh(std::vector<Device>(all.begin(), all.begin() + 4), {"i"});
  auto f = shard_map([](const Array& x) { return psum(x, "i"); }, mesh, P("i"), P());
  const Loc loc = Loc::current();
  try {
    (void)f(ones({6}, float32), loc);
    FAIL() << "6 rows split over 4 devices";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("is not divisible by 4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shard_map_test.cpp:" + std::to_string(loc.line())), std::string::npos)
        << msg;
  }
}

TEST(Spmd, CollectiveOverAnAxisTheMeshLacksIsAnError) {
  const Mesh mesh({devices("cpu")[0]}, {"i"});
  auto f = shard_map([](const Array& x) { return psum(x, "j"); }, mesh, P("i"), P());
  try {
    (void)f(ones({2}, float32));
    FAIL() << "psum over a missing axis ran";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("axis 'j'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
