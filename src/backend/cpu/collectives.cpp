#include "backend/cpu/collectives.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "backend/cpu/element_types.hpp"
#include "core/sharded_value.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

// The groups a collective over `axes` exchanges in: the devices that differ only along those
// axes, each listed by its index along them (major to minor, as the axes are named).
std::vector<std::vector<size_t>> groups_of(const Mesh& mesh, const std::vector<std::string>& axes) {
  const auto& names = mesh.axis_names();
  std::vector<bool> in_group(names.size(), false);
  std::vector<size_t> order;
  for (const std::string& a : axes) {
    const auto i = static_cast<size_t>(std::find(names.begin(), names.end(), a) - names.begin());
    if (i == names.size())
      throw ValueError("collective over axis '" + a + "', which " + mesh.str() + " does not have");
    in_group[i] = true;
    order.push_back(i);
  }
  std::map<std::vector<int64_t>, std::vector<std::pair<int64_t, size_t>>> by_rest;
  for (size_t k = 0; k < mesh.devices().size(); ++k) {
    const std::vector<int64_t> c = mesh.coordinates(k);
    std::vector<int64_t> rest;
    for (size_t i = 0; i < c.size(); ++i)
      if (!in_group[i]) rest.push_back(c[i]);
    int64_t rank = 0;
    for (size_t i : order) rank = rank * mesh.shape()[i] + c[i];
    by_rest[rest].emplace_back(rank, k);
  }
  std::vector<std::vector<size_t>> groups;
  for (auto& [rest, members] : by_rest) {
    std::sort(members.begin(), members.end());
    std::vector<size_t> g;
    for (const auto& m : members) g.push_back(m.second);
    groups.push_back(std::move(g));
  }
  return groups;
}

std::byte* bytes(Buffer* b) {
  return static_cast<std::byte*>(b->host_data());
}

// out = in[0] op in[1] op ... in group order (psum adds, wrapping for integers; pmax propagates
// NaN).
void reduce_into(std::byte* out, std::span<Buffer* const> in, const std::vector<size_t>& group,
                 DType dtype, size_t n, bool max) {
  bool done = false;
  for_each_type([&]<class T>() {
    if (done || dtype_of<T>() != dtype) return;
    done = true;
    if constexpr (!kIsBool<T>) {
      using C = compute_t<T>;
      auto* o = reinterpret_cast<T*>(out);
      std::memcpy(o, bytes(in[group[0]]), n * sizeof(T));
      for (size_t g = 1; g < group.size(); ++g) {
        const auto* x = reinterpret_cast<const T*>(bytes(in[group[g]]));
        for (size_t i = 0; i < n; ++i) {
          const C a = load(o[i]), b = load(x[i]);
          if (max) {
            o[i] = store<T>(max_of(a, b));  // the cpu's one max: NaN and signed zeros as XLA
          } else if constexpr (kIsInt<T>) {
            using U = std::make_unsigned_t<T>;
            o[i] = static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
          } else {
            o[i] = store<T>(a + b);
          }
        }
      }
    }
  });
}

// The box of the r-th of `parts` equal blocks along dimension d of `shape`.
void block(const Shape& shape, int d, int64_t r, int64_t parts, std::vector<int64_t>& starts,
           std::vector<int64_t>& sizes) {
  starts.assign(static_cast<size_t>(shape.rank()), 0);
  sizes = shape.vec();
  const int64_t size = shape[d] / parts;
  starts[static_cast<size_t>(d)] = r * size;
  sizes[static_cast<size_t>(d)] = size;
}

}  // namespace

std::vector<std::shared_ptr<Buffer>> run_collective(const ir::Node& node,
                                                    const ir::ValueType& in_type, const Mesh& mesh,
                                                    std::span<Buffer* const> in) {
  const ir::CollectiveAttrs& c = node.attrs.collective;
  const auto groups = groups_of(mesh, c.axes);
  const size_t item = itemsize(node.type.dtype);
  const size_t out_bytes = static_cast<size_t>(node.type.shape.numel()) * item;
  std::vector<std::shared_ptr<Buffer>> out(mesh.devices().size());
  for (size_t k = 0; k < out.size(); ++k) {
    const Device d = mesh.devices()[k];
    out[k] = d.backend()->allocate(out_bytes, d);
  }
  const size_t n = static_cast<size_t>(in_type.shape.numel());
  for (const std::vector<size_t>& group : groups) {
    const auto size = static_cast<int64_t>(group.size());
    std::vector<int64_t> starts, sizes;
    switch (node.prim) {
      case ir::Prim::axis_index:
        for (int64_t r = 0; r < size; ++r) {
          const auto v = static_cast<int32_t>(r);
          std::memcpy(bytes(out[group[static_cast<size_t>(r)]].get()), &v, sizeof v);
        }
        break;
      case ir::Prim::psum:
      case ir::Prim::pmax: {
        reduce_into(bytes(out[group[0]].get()), in, group, in_type.dtype, n,
                    node.prim == ir::Prim::pmax);
        for (size_t g = 1; g < group.size(); ++g)
          std::memcpy(bytes(out[group[g]].get()), bytes(out[group[0]].get()), out_bytes);
        break;
      }
      case ir::Prim::all_gather: {
        // Member r's operand is block r of the result along the gathered dimension (untiled:
        // a block of size 1 there, the same bytes).
        const Shape& whole = node.type.shape;
        for (int64_t r = 0; r < size; ++r) {
          block(whole, static_cast<int>(c.dimension), r, size, starts, sizes);
          for (size_t g : group)
            copy_box(bytes(out[g].get()), bytes(in[group[static_cast<size_t>(r)]]), whole, item,
                     starts, sizes, false);
        }
        break;
      }
      case ir::Prim::psum_scatter: {
        // The group's sum, then member r keeps block r along the scattered dimension.
        std::vector<std::byte> sum(n * item);
        reduce_into(sum.data(), in, group, in_type.dtype, n, false);
        for (int64_t r = 0; r < size; ++r) {
          block(in_type.shape, static_cast<int>(c.dimension), r, size, starts, sizes);
          copy_box(sum.data(), bytes(out[group[static_cast<size_t>(r)]].get()), in_type.shape, item,
                   starts, sizes, true);
        }
        break;
      }
      case ir::Prim::all_to_all: {
        // Member j receives block j (along split_axis) of every member's operand, member i's
        // as block i (along concat_axis) of its result.
        const Shape& result = node.type.shape;
        std::vector<std::byte> chunk;
        std::vector<int64_t> out_starts, out_sizes;
        for (int64_t i = 0; i < size; ++i)
          for (int64_t j = 0; j < size; ++j) {
            block(in_type.shape, static_cast<int>(c.dimension), j, size, starts, sizes);
            int64_t numel = 1;
            for (int64_t s : sizes) numel *= s;
            chunk.resize(static_cast<size_t>(numel) * item);
            copy_box(bytes(in[group[static_cast<size_t>(i)]]), chunk.data(), in_type.shape, item,
                     starts, sizes, true);
            block(result, static_cast<int>(c.concat_dimension), i, size, out_starts, out_sizes);
            copy_box(bytes(out[group[static_cast<size_t>(j)]].get()), chunk.data(), result, item,
                     out_starts, out_sizes, false);
          }
        break;
      }
      case ir::Prim::ppermute: {
        for (size_t g : group) std::memset(bytes(out[g].get()), 0, out_bytes);
        for (const auto& [src, dst] : c.perm)
          std::memcpy(bytes(out[group[static_cast<size_t>(dst)]].get()),
                      bytes(in[group[static_cast<size_t>(src)]]), out_bytes);
        break;
      }
      default:
        throw Error("kiln bug: run_collective of " + std::string(ir::name(node.prim)));
    }
  }
  return out;
}

}  // namespace kiln::cpu
