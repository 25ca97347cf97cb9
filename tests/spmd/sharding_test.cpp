// Meshes, PartitionSpecs, NamedShardings and sharded arrays (kiln/sharding.hpp). The cases that
// need several devices run in ctest's Spmd.EightCpuDevices (KILN_CPU_DEVICES=8).
#include <gtest/gtest.h>

#include "kiln/kiln.hpp"
#include "spmd/cpu_devices.hpp"

namespace kiln {
namespace {

Array iota_f32(Shape s) {
  return reshape(astype(arange(s.numel()), float32), s.vec());
}

TEST(Sharding, SpecsAndMeshesPrintAsJaxDoes) {
  EXPECT_EQ(P("data").str(), "PartitionSpec('data',)");
  EXPECT_EQ(P(None, "model").str(), "PartitionSpec(None, 'model')");
  EXPECT_EQ(P(axes("x", "y"), None).str(), "PartitionSpec(('x', 'y'), None)");
  EXPECT_EQ(P().str(), "PartitionSpec()");
  const Mesh mesh({devices("cpu")[0]}, {"data"});
  EXPECT_EQ(mesh.str(), "Mesh('data': 1)");
  EXPECT_EQ(NamedSharding(mesh, P("data")).str(),
            "NamedSharding(mesh=Mesh('data': 1), spec=PartitionSpec('data',))");
  EXPECT_EQ(ones({2}).sharding().str(), "SingleDeviceSharding(device=CpuDevice(id=0))");
}

TEST(Sharding, BadMeshesAreErrorsSayingWhatToFix) {
  const std::vector<Device> one = {devices("cpu")[0]};
  EXPECT_THROW(Mesh(one, {"x", "y"}), ValueError);          // two names, one dimension
  EXPECT_THROW(Mesh(one, {2}, {"x"}), ValueError);          // one device for a mesh of 2
  EXPECT_THROW(Mesh({one[0], one[0]}, {"x"}), ValueError);  // a device twice
  try {
    (void)make_mesh({1024}, {"x"});
    FAIL();
  } catch (const DeviceNotFound& e) {
    EXPECT_NE(std::string(e.what()).find("KILN_CPU_DEVICES=1024"), std::string::npos) << e.what();
  }
}

TEST(Sharding, DevicePutSplitsRowsOverADataAxis) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(2), {"data"});
  const Array x = iota_f32({8, 8});
  const Array xs = device_put(x, NamedSharding(mesh, P("data")));
  EXPECT_EQ(xs.shape(), (Shape{8, 8}));
  EXPECT_EQ(xs.sharding().str(),
            "NamedSharding(mesh=Mesh('data': 2), spec=PartitionSpec('data',))");
  const auto shards = xs.addressable_shards();
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[1].device, devices("cpu")[1]);
  EXPECT_EQ(shards[1].data.device(), devices("cpu")[1]);
  EXPECT_EQ(shards[1].index, (std::vector<std::pair<int64_t, int64_t>>{{4, 8}, {0, 8}}));
  EXPECT_EQ(shards[1].data.shape(), (Shape{4, 8}));
  EXPECT_EQ(shards[1].data.to_vector<float>()[0], 32.0f);
  // Read whole, and through an eager op, it is x.
  EXPECT_EQ(xs.to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ((xs + 1.0).to_vector<float>(), (x + 1.0).to_vector<float>());
}

TEST(Sharding, TwoDimensionalMeshSplitsBothDimensionsOrReplicates) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(8), {2, 4}, {"x", "y"});
  EXPECT_EQ(mesh.str(), "Mesh('x': 2, 'y': 4)");
  const Array a = iota_f32({4, 8});
  const Array b = device_put(a, NamedSharding(mesh, P("x", "y")));
  auto s = b.addressable_shards();
  // Device 6 is at (x=1, y=2): rows 2..4, columns 4..6.
  EXPECT_EQ(s[6].index, (std::vector<std::pair<int64_t, int64_t>>{{2, 4}, {4, 6}}));
  EXPECT_EQ(s[6].data.to_vector<float>(), (std::vector<float>{20, 21, 28, 29}));
  // P(None, "y"): replicated over x, so devices 1 and 5 hold the same columns.
  s = device_put(a, NamedSharding(mesh, P(None, "y"))).addressable_shards();
  EXPECT_EQ(s[1].data.to_vector<float>(), s[5].data.to_vector<float>());
  EXPECT_EQ(s[1].index, (std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {2, 4}}));
  // Both axes on one dimension: x major.
  s = device_put(iota_f32({8, 1}), NamedSharding(mesh, P(axes("x", "y")))).addressable_shards();
  EXPECT_EQ(s[6].data.to_vector<float>(), (std::vector<float>{6}));
  // Fully replicated: every device holds all of it.
  const Array r = device_put(a, NamedSharding(mesh, P()));
  EXPECT_TRUE(r.sharding().is_fully_replicated());
  EXPECT_EQ(r.addressable_shards()[7].data.to_vector<float>(), a.to_vector<float>());
}

TEST(Sharding, BadSpecsAreErrorsNamingTheLineAndTheFix) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(4), {"data"});
  const Array x = iota_f32({6, 4});
  Loc loc = Loc::current();
  try {
    (void)device_put(x, NamedSharding(mesh, P("model")), loc);
    FAIL();
  } catch (const ValueError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("names mesh axis 'model', which Mesh('data': 4) does not have"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("sharding_test.cpp:" + std::to_string(loc.line())), std::string::npos) << m;
    EXPECT_NE(m.find("use one of its axes ('data')"), std::string::npos) << m;
  }
  loc = Loc::current();
  try {
    (void)device_put(x, NamedSharding(mesh, P("data")), loc);
    FAIL();
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("dimension 0 of an array of shape (6, 4) (size 6) is not divisible by 4"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("sharding_test.cpp:" + std::to_string(loc.line())), std::string::npos) << m;
    EXPECT_NE(m.find("make that dimension a multiple of 4"), std::string::npos) << m;
  }
  EXPECT_THROW((void)device_put(x, NamedSharding(mesh, P(None, None, "data"))), ValueError);
  EXPECT_NO_THROW((void)device_put(x, NamedSharding(mesh, P(None, "data"))));  // 4 over 4
}

}  // namespace
}  // namespace kiln
