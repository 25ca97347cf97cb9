// index, at, take, take_along_axis and the dynamic slices against JAX's results for the same
// expressions (tests/ops/make_indexing_references.py wrote tests/ops/data/indexing_jax.msgpack);
// and their errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

#include "kiln/autodiff.hpp"
#include "kiln/indexing.hpp"
#include "kiln/jit.hpp"
#include "kiln/serialization.hpp"
#include "kiln/tree.hpp"

namespace kiln {
namespace {

const std::filesystem::path kData =
    std::filesystem::path(KILN_SOURCE_DIR) / "tests" / "ops" / "data" / "indexing_jax.msgpack";

Array ints(std::vector<int32_t> v, Shape s = {}) {
  if (s.rank() == 0 && v.size() != 1) s = Shape{static_cast<int64_t>(v.size())};
  return array(std::span<const int32_t>(v), s);
}

Array bools(std::vector<int32_t> v) {
  return astype(ints(std::move(v)), bool_);
}

// The inputs make_indexing_references.py builds.
struct Inputs {
  Array x = reshape(arange(20, float32), {5, 4});
  Array xi = sub(reshape(arange(20, int32), {5, 4}), 7);
  Array x3 = reshape(arange(60, float32), {3, 5, 4});
  Array idx = ints({3, 0, -1, 4});
  Array dup = ints({1, 3, 1, 1});
  Array oob = ints({0, 7, -9, 2});
  Array uidx = ints({3, 0, -4, 4});
  Array cols = ints({0, 3, 1, 1, 2, 0, 3, 2, 0, -1}, Shape{5, 2});
  Array vals = array({10.0f, -1.0f, 5.0f, 2.0f}, Shape{4, 1});
};

std::map<std::string, std::function<Array()>> cases(const Inputs& in) {
  const Array &x = in.x, &xi = in.xi, &x3 = in.x3, &idx = in.idx, &dup = in.dup, &oob = in.oob;
  const Array& uidx = in.uidx;
  const Array &cols = in.cols, &vals = in.vals;
  const std::nullopt_t none = std::nullopt;
  return {
      {"index_int", [=] { return index(x, {2}); }},
      {"index_neg_slice",
       [=] {
         return index(x, {-1, Slice{1, 3}});
       }},
      {"index_step",
       [=] {
         return index(x, {Slice{none, none, -2}, 1});
       }},
      {"index_array", [=] { return index(x, {idx}); }},
      {"index_array_cols",
       [=] {
         return index(x, {Slice{}, index(idx, {Slice{none, 3}})});
       }},
      {"index_none",
       [=] {
         return index(x, {newaxis, Slice{1, 3}});
       }},
      {"index_two_arrays",
       [=] {
         return index(x, {idx, dup});
       }},
      {"index_noncontiguous",
       [=] {
         return index(x3, {ints({0, 2}), Slice{}, ints({1, 3})});
       }},
      {"index_mixed",
       [=] {
         return index(x3, {1, idx, Slice{none, none, 2}});
       }},
      {"index_array_newaxis",
       [=] {
         return index(x, {idx, newaxis});
       }},
      {"index_ellipsis",
       [=] {
         return index(x3, {ellipsis, 1});
       }},
      {"index_clamped", [=] { return index(x, {oob}); }},
      {"index_2d_array", [=] { return index(x, {cols}); }},
      {"at_set", [=] { return at(x, {idx}).set(7.0); }},
      {"at_set_dup", [=] { return at(x, {dup}).set(vals); }},
      {"at_add_dup", [=] { return at(x, {dup}).add(1.0); }},
      {"at_mul_int", [=] { return at(xi, {dup}).multiply(3); }},
      {"at_min", [=] { return at(x, {dup}).min(vals); }},
      {"at_max", [=] { return at(x, {dup}).max(vals); }},
      {"at_add_oob", [=] { return at(x, {oob}).add(100.0); }},
      {"at_set_slice",
       [=] {
         return at(x, {Slice{1, 3}, 2}).set(0.0);
       }},
      {"at_set_step",
       [=] {
         return at(x, {Slice{none, none, 2}}).set(-1.0);
       }},
      {"at_set_2d",
       [=] {
         return at(x, {idx, dup}).set(-3.0);
       }},
      {"at_get", [=] { return at(x, {idx}).get(); }},
      {"take_fill", [=] { return take(x, oob, 1); }},
      {"take_clip", [=] { return take(xi, oob, 0, TakeMode::clip); }},
      {"take_wrap", [=] { return take(x, oob, 1, TakeMode::wrap); }},
      {"take_flat", [=] { return take(x, mul(oob, 3)); }},
      {"take_along_axis", [=] { return take_along_axis(x, cols, 1); }},
      {"take_along_axis_0",
       [=] {
         return take_along_axis(xi, ints({4, 0, 1, 9}, Shape{1, 4}), 0);
       }},
      {"dynamic_slice",
       [=] {
         return dynamic_slice(x, {2, 1}, {2, 3});
       }},
      {"dynamic_slice_oob",
       [=] {
         return dynamic_slice(x, {4, -7}, {3, 2});
       }},
      {"dynamic_slice_neg",
       [=] {
         return dynamic_slice(x, {-2, -3}, {2, 2});
       }},
      {"dynamic_update_slice",
       [=] {
         return dynamic_update_slice(x, full({2, 2}, -5.0), {3, -1});
       }},
      {"dynamic_slice_in_dim", [=] { return dynamic_slice_in_dim(x, 3, 2, 1); }},
      {"dynamic_update_slice_in_dim",
       [=] {
         return dynamic_update_slice_in_dim(x, zeros({5, 1}), -1, 1);
       }},
      {"dynamic_index_in_dim", [=] { return dynamic_index_in_dim(x, 6, 0, false); }},
      {"grad_index",
       [=] {
         return grad([&](const Array& a) {
           Array r = index(a, {dup});
           return sum(mul(r, r));
         })(x);
       }},
      {"grad_take_clip",
       [=] {
         return grad([&](const Array& a) {
           Array r = take(a, oob, 1, TakeMode::clip);
           return sum(mul(r, r));
         })(x);
       }},
      {"grad_at_add",
       [=] {
         return grad([&](const Array& v) {
           Array r = at(x, {dup}).add(reshape(mul(v, v), {4, 1}));
           return sum(mul(r, r));
         })(reshape(vals, {4}));
       }},
      {"grad_at_mul_unique",
       [=] {
         return grad([&](const Array& v) {
           Array r = at(x, {uidx}).multiply(reshape(v, {4, 1}), {.unique_indices = true});
           return sum(mul(r, r));
         })(reshape(vals, {4}));
       }},
      {"grad_at_max",
       [=] { return grad([&](const Array& a) { return sum(at(a, {dup}).max(vals)); })(x); }},
      {"grad_dynamic_slice",
       [=] {
         return grad([&](const Array& a) {
           Array r = dynamic_slice(a, {4, -7}, {3, 2});
           return sum(mul(r, r));
         })(x);
       }},
      {"at_get_fill", [=] { return at(x, {oob}).get({.mode = GatherMode::fill}); }},
      {"at_get_fill_value",
       [=] {
         return at(xi, {oob, Slice{1, none}}).get({.mode = GatherMode::fill, .fill_value = -1});
       }},
      {"at_get_fill_int", [=] { return at(xi, {oob}).get({.mode = GatherMode::fill}); }},
      {"at_get_fill_u8",
       [=] { return at(astype(x, uint8), {oob}).get({.mode = GatherMode::fill}); }},
      {"at_get_fill_bool",
       [=] { return at(greater(x, 5), {oob}).get({.mode = GatherMode::fill}); }},
      {"at_get_fill_static",
       [=] {
         return at(x, {7, 1}).get({.mode = GatherMode::fill});
       }},
      {"at_get_fill_2d",
       [=] {
         return at(x, {idx, oob}).get({.mode = GatherMode::fill});
       }},
      {"at_get_fill_step",
       [=] {
         return at(x3, {Slice{none, none, 2}, oob})
             .get({.mode = GatherMode::fill, .fill_value = 0.5});
       }},
      {"at_get_clip", [=] { return at(x, {oob}).get({.mode = GatherMode::clip}); }},
      {"index_mask_rows",
       [=] {
         return index(x, {greater(index(x, {Slice{}, 0}), 4)});
       }},
      {"index_mask_2d", [=] { return index(x, {greater(x, 7)}); }},
      {"index_mask_cols",
       [=] {
         return index(x, {Slice{1, none}, bools({true, false, true, true})});
       }},
      {"index_mask_empty", [=] { return index(x, {greater(x, 100)}); }},
      {"index_mask_and_array",
       [=] {
         return index(x3, {ints({0, 2}), bools({false, true, false, false, true})});
       }},
      {"index_mask_ellipsis",
       [=] {
         return index(x3, {ellipsis, bools({true, false, false, true})});
       }},
      {"at_mask_set", [=] { return at(x, {greater(x, 7)}).set(0.0); }},
      {"at_mask_add_3d",
       [=] {
         return at(x3, {greater(index(x3, {Slice{}, Slice{}, 0}), 30)}).add(1.0);
       }},
      {"grad_dynamic_update_slice",
       [=] {
         return grad([&](const Array& u) {
           Array r = dynamic_update_slice(x, u, {3, -1});
           return sum(mul(r, r));
         })(ones({2, 2}));
       }},
  };
}

bool same_bits(const Array& a, const Array& b) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  const size_t n = static_cast<size_t>(a.size()) * itemsize(a.dtype());
  std::vector<uint8_t> x(n), y(n);
  if (n == 0) return true;
  a.copy_to_host(x.data(), a.dtype());
  b.copy_to_host(y.data(), b.dtype());
  return std::memcmp(x.data(), y.data(), n) == 0;
}

TEST(Indexing, MatchesJaxBitForBit) {
  const Inputs in;
  const auto cs = cases(in);
  Tree templ = Tree::dict();
  std::map<std::string, Array> got;
  for (const auto& [name, f] : cs) {
    SCOPED_TRACE(name);
    got[name] = f();
    templ.entry(name) = got[name];
  }
  // The reference holds exactly these cases, with these shapes and dtypes (from_bytes checks).
  const Tree want = serialization::from_bytes(templ, serialization::read_file(kData));
  for (const auto& [name, a] : got)
    EXPECT_TRUE(same_bits(a, want[name].leaf()))
        << name << ": kiln " << a.str() << "\nJAX " << want[name].leaf().str();
}

TEST(Indexing, UnderJitMatchesEager) {
  const Inputs in;
  auto f = jit([&](const Array& x, const Array& i) {
    return std::vector<Array>{index(x, {i, Slice{1, 3}}), at(x, {i}).add(1.0),
                              dynamic_slice(x, {index(i, {0}), 1}, {2, 2}),
                              take_along_axis(x, in.cols, 1)};
  });
  const std::vector<Array> r = f(in.x, in.oob);
  EXPECT_TRUE(same_bits(r[0], index(in.x, {in.oob, Slice{1, 3}})));
  EXPECT_TRUE(same_bits(r[1], at(in.x, {in.oob}).add(1.0)));
  EXPECT_TRUE(same_bits(r[2], dynamic_slice(in.x, {0, 1}, {2, 2})));
  EXPECT_TRUE(same_bits(r[3], take_along_axis(in.x, in.cols, 1)));
}

template <class E, class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "no error";
}

TEST(Indexing, BadIndicesAreErrorsNamingTheOpShapesAndLine) {
  const Inputs in;
  const Array& x = in.x;
  // A boolean mask under jit: its count would be the result's shape (JAX's
  // NonConcreteBooleanIndexError).
  std::string mask_error = error_of<TracerError>(
      [&] { jit([](const Array& a) { return index(a, {greater(a, 7)}); })(x); });
  EXPECT_NE(mask_error.find("index: a boolean mask index must be concrete, got a traced bool[5,4]"),
            std::string::npos)
      << mask_error;
  EXPECT_NE(mask_error.find("indexing_test.cpp"), std::string::npos) << mask_error;
  mask_error = error_of<ShapeError>([&] { index(x, {bools({true, false, true})}); });
  EXPECT_NE(mask_error.find("boolean index did not match the indexed array along axis 0: the "
                            "array's size is 5, the mask's 3"),
            std::string::npos)
      << mask_error;
  mask_error = error_of<ValueError>(
      [&] { at(x, {in.idx}).get({.mode = GatherMode::fill, .fill_value = Operand(ones({2}))}); });
  EXPECT_NE(mask_error.find("fill_value must be a scalar"), std::string::npos) << mask_error;
  std::string m = error_of<ValueError>([&] { index(x, {5}); });
  EXPECT_NE(m.find("index 5 is out of bounds for axis 0 with size 5"), std::string::npos) << m;
  EXPECT_NE(m.find("indexing_test.cpp"), std::string::npos) << m;
  m = error_of<ValueError>([&] { index(x, {0, 0, 0}); });
  EXPECT_NE(m.find("too many indices"), std::string::npos) << m;
  m = error_of<DTypeError>([&] { index(x, {astype(in.idx, float32)}); });
  EXPECT_NE(m.find("must be integers"), std::string::npos) << m;
  m = error_of<DTypeError>([&] { take(x, astype(in.idx, float32), 0); });
  EXPECT_NE(m.find("take: indices must be integers"), std::string::npos) << m;
  // The primitives' type rules: float indices, updates that do not fit the window.
  ir::GatherDims d;
  d.offset_dims = {1};
  d.collapsed_slice_dims = {0};
  d.start_index_map = {0};
  d.index_vector_dim = 1;
  d.slice_sizes = {1, 4};
  m = error_of<DTypeError>([&] { gather(x, reshape(astype(in.idx, float32), {4, 1}), d); });
  EXPECT_NE(m.find("gather: indices must be of an integer dtype"), std::string::npos) << m;
  EXPECT_NE(m.find("indexing_test.cpp"), std::string::npos) << m;
  m = error_of<ShapeError>([&] { scatter_add(x, reshape(in.idx, {4, 1}), zeros({4, 7}), d); });
  EXPECT_NE(m.find("scatter_add: the updates' window dim 1 does not fit in the operand"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("f32[5,4]"), std::string::npos) << m;
  d.slice_sizes = {1, 9};
  m = error_of<ShapeError>([&] { gather(x, reshape(in.idx, {4, 1}), d); });
  EXPECT_NE(m.find("slice_sizes (1, 9) exceed the operand"), std::string::npos) << m;
  m = error_of<ShapeError>([&] { dynamic_slice(x, {0}, {1, 1}); });
  EXPECT_NE(m.find("1 start indices for an operand of shape (5, 4)"), std::string::npos) << m;
  m = error_of<ShapeError>([&] { dynamic_slice(x, {0, 0}, {6, 1}); });
  EXPECT_NE(m.find("dynamic_slice: slice_sizes (6, 1) does not fit in the operand"),
            std::string::npos)
      << m;
  m = error_of<DTypeError>([&] { at(astype(x, bool_), {in.idx}).add(1); });
  EXPECT_NE(m.find("scatter_add"), std::string::npos) << m;
  // scatter_mul differentiates with respect to its updates only with unique indices, as in JAX.
  m = error_of<GradError>(
      [&] { grad([&](const Array& v) { return sum(at(x, {in.dup}).multiply(v)); })(in.vals); });
  EXPECT_NE(m.find("scatter_mul: the gradient is defined only for unique_indices=true"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("indexing_test.cpp"), std::string::npos) << m;
}

}  // namespace
}  // namespace kiln
