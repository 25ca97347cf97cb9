// How the SPMD partitioner sees one value: which mesh axes split each of its dimensions, and over
// which axes its per-device values are partial sums still to be added.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/shape.hpp"

namespace kiln::spmd {

// A mesh's axes as the partitioner needs them: names and sizes, major to minor.
struct MeshAxes {
  std::vector<std::string> names;
  std::vector<int64_t> sizes;
  int64_t size_of(const std::vector<std::string>& axes) const;  // product of their sizes
  bool has(const std::string& axis) const;
};

struct Layout {
  // dims[d]: the mesh axes splitting dimension d, major to minor (empty: whole on every device).
  std::vector<std::vector<std::string>> dims;
  // A dot_general that contracted a split dimension leaves per-device partial sums: the value is
  // the sum over these axes (a psum makes it whole).
  std::vector<std::string> partial;
  bool operator==(const Layout&) const = default;

  static Layout replicated(int rank) {
    return Layout{std::vector<std::vector<std::string>>(rank), {}};
  }
  bool is_replicated() const;
  // Every axis it names (dims and partial).
  std::vector<std::string> axes() const;
  // The per-device shape of a value of global shape `global`.
  Shape local_shape(const Shape& global, const MeshAxes& mesh) const;
  // "P('data', None)", with " partial over ('model',)" when partial.
  std::string str() const;
};

}  // namespace kiln::spmd
