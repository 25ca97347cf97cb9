// dot_general and numpy's matmul/dot and einsum built on it.
#include <algorithm>
#include <cctype>
#include <string>

#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {

Array dot_general(const Array& a, const Array& b, ir::DotDims dims, Loc loc) {
  return dot_general(a, b, std::move(dims), DotOptions{}, loc);
}

Array dot_general(const Array& a, const Array& b, ir::DotDims dims, const DotOptions& options,
                  Loc loc) {
  DType t = promote(a.dtype(), b.dtype());
  Array xs[2] = {astype(a, t, loc), astype(b, t, loc)};
  ir::Attrs at;
  at.dot = std::move(dims);
  at.preferred_element_type = options.preferred_element_type;
  return bind(ir::Prim::dot_general, xs, std::move(at), loc);
}

Array matmul(const Array& a, const Array& b, Loc loc) {
  return matmul(a, b, DotOptions{}, loc);
}

Array matmul(const Array& a, const Array& b, const DotOptions& options, Loc loc) {
  if (a.ndim() == 0 || b.ndim() == 0)
    throw ShapeError(message("matmul of a 0-d array (shapes " + a.shape().str() + " and " +
                                 b.shape().str() + "); use * for scalars",
                             loc));
  // numpy: a 1-d lhs is a row vector, a 1-d rhs a column vector; the added dims are removed after.
  Array l = a.ndim() == 1 ? reshape(a, {1, a.shape()[0]}, loc) : a;
  Array r = b.ndim() == 1 ? reshape(b, {b.shape()[0], 1}, loc) : b;
  int64_t k = l.shape()[l.ndim() - 1];
  if (r.shape()[r.ndim() - 2] != k)
    throw ShapeError(message("matmul: contracting dimensions differ for shapes " + a.shape().str() +
                                 " and " + b.shape().str() + " (" + std::to_string(k) + " vs " +
                                 std::to_string(r.shape()[r.ndim() - 2]) + ")",
                             loc));
  // Leading (batch) dimensions broadcast against each other.
  Shape lb, rb;
  for (int i = 0; i < l.ndim() - 2; ++i) lb.push_back(l.shape()[i]);
  for (int i = 0; i < r.ndim() - 2; ++i) rb.push_back(r.shape()[i]);
  Shape batch = ops::broadcast_shapes({lb, rb}, loc);
  auto with_batch = [&](const Array& x) {
    std::vector<int64_t> s = batch.vec();
    s.push_back(x.shape()[x.ndim() - 2]);
    s.push_back(x.shape()[x.ndim() - 1]);
    return broadcast_to(x, Shape(s), loc);
  };
  ir::DotDims d;
  int nb = batch.rank();
  if (nb > 0) {
    l = with_batch(l);
    r = with_batch(r);
    for (int i = 0; i < nb; ++i) {
      d.lhs_batch.push_back(i);
      d.rhs_batch.push_back(i);
    }
  }
  d.lhs_contract = {nb + 1};
  d.rhs_contract = {nb};
  Array out = dot_general(l, r, std::move(d), options, loc);
  std::vector<int64_t> s = batch.vec();
  if (a.ndim() > 1) s.push_back(a.shape()[a.ndim() - 2]);
  if (b.ndim() > 1) s.push_back(b.shape()[b.ndim() - 1]);
  return reshape(out, std::move(s), loc);
}

Array dot(const Array& a, const Array& b, Loc loc) {
  if (a.ndim() > 2 || b.ndim() > 2)
    throw ShapeError(message("dot of arrays of rank > 2 (" + a.shape().str() + ", " +
                                 b.shape().str() + "); use matmul or dot_general",
                             loc));
  if (a.ndim() == 0 || b.ndim() == 0) return mul(a, b, loc);
  return matmul(a, b, loc);
}

namespace {

// One einsum operand: the array and the label of each of its dims.
struct Labeled {
  Array x;
  std::string labels;
};

[[noreturn]] void einsum_error(std::string_view subscripts, const std::string& what,
                               const Loc& loc) {
  throw ValueError(message("einsum '" + std::string(subscripts) + "': " + what, loc));
}

// Keeps one copy of each repeated label: the diagonal, as JAX's sum_repeats (mask the positions
// off the diagonal to zero, then sum the repeated dim away).
Labeled take_diagonals(Labeled t, const Loc& loc) {
  for (size_t i = 0; i < t.labels.size(); ++i) {
    for (size_t j = i + 1; j < t.labels.size();) {
      if (t.labels[j] != t.labels[i]) {
        ++j;
        continue;
      }
      const Shape& s = t.x.shape();
      Array on_diagonal = kiln::equal(iota(int32, s, static_cast<int64_t>(i), loc),
                                      iota(int32, s, static_cast<int64_t>(j), loc), loc);
      t.x = sum(where(on_diagonal, t.x, 0, loc), Axes(static_cast<int>(j)), false, loc);
      t.labels.erase(j, 1);
    }
  }
  return t;
}

// Sums away the labels of t that none of `keep` holds.
Labeled sum_unused(Labeled t, const std::string& keep, const Loc& loc) {
  std::vector<int64_t> axes;
  std::string kept;
  for (size_t i = 0; i < t.labels.size(); ++i) {
    if (keep.find(t.labels[i]) == std::string::npos) {
      axes.push_back(static_cast<int64_t>(i));
    } else {
      kept += t.labels[i];
    }
  }
  if (axes.empty()) return t;
  return {sum(t.x, Axes(axes), false, loc), kept};
}

}  // namespace

Array einsum(std::string_view subscripts, const std::vector<Array>& operands, Loc loc) {
  std::string spec;
  for (char c : subscripts)
    if (!std::isspace(static_cast<unsigned char>(c))) spec += c;
  if (spec.find("...") != std::string::npos)
    einsum_error(subscripts, "ellipses (...) are not supported", loc);
  const size_t arrow = spec.find("->");
  const std::string lhs = spec.substr(0, arrow);
  std::vector<std::string> inputs(1);
  for (char c : lhs) {
    if (c == ',') {
      inputs.emplace_back();
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      inputs.back() += c;
    } else {
      einsum_error(subscripts, std::string("bad character '") + c + "' (labels are letters)", loc);
    }
  }
  if (inputs.size() != operands.size())
    einsum_error(subscripts,
                 std::to_string(inputs.size()) + " operand subscripts for " +
                     std::to_string(operands.size()) + " operands",
                 loc);
  std::string output;
  if (arrow != std::string::npos) {
    output = spec.substr(arrow + 2);
    for (size_t i = 0; i < output.size(); ++i) {
      if (!std::isalpha(static_cast<unsigned char>(output[i])) ||
          lhs.find(output[i]) == std::string::npos ||
          output.find(output[i], i + 1) != std::string::npos)
        einsum_error(subscripts,
                     std::string("output label '") + output[i] +
                         "' must be a letter that an operand has, once",
                     loc);
    }
  } else {  // implicit mode: the labels that occur once, in alphabetical order
    for (char c : lhs)
      if (std::isalpha(static_cast<unsigned char>(c)) && std::count(lhs.begin(), lhs.end(), c) == 1)
        output += c;
    std::sort(output.begin(), output.end());
  }
  // Each label's size, checked across operands.
  std::vector<Labeled> ts;
  std::string sizes_seen;
  std::vector<int64_t> sizes;
  for (size_t k = 0; k < operands.size(); ++k) {
    if (static_cast<int>(inputs[k].size()) != operands[k].ndim())
      einsum_error(subscripts,
                   "operand " + std::to_string(k) + " has shape " + operands[k].shape().str() +
                       " but subscripts '" + inputs[k] + "'",
                   loc);
    for (size_t i = 0; i < inputs[k].size(); ++i) {
      const int64_t n = operands[k].shape()[static_cast<int>(i)];
      const size_t at = sizes_seen.find(inputs[k][i]);
      if (at == std::string::npos) {
        sizes_seen += inputs[k][i];
        sizes.push_back(n);
      } else if (sizes[at] != n) {
        einsum_error(subscripts,
                     std::string("label '") + inputs[k][i] + "' has sizes " +
                         std::to_string(sizes[at]) + " and " + std::to_string(n),
                     loc);
      }
    }
    ts.push_back(take_diagonals({operands[k], inputs[k]}, loc));
  }
  if (ts.empty()) einsum_error(subscripts, "no operands", loc);
  // The labels operands after `k` and the output still need.
  auto needed_after = [&](size_t k) {
    std::string need = output;
    for (size_t m = k + 1; m < ts.size(); ++m) need += ts[m].labels;
    return need;
  };
  for (size_t k = 0; k < ts.size(); ++k) {
    std::string others = needed_after(k);
    for (size_t m = 0; m < k; ++m) others += ts[m].labels;
    ts[k] = sum_unused(ts[k], others, loc);
  }
  // Contract left to right: shared labels still needed are batch dims, the others contract.
  Labeled acc = ts[0];
  for (size_t k = 1; k < ts.size(); ++k) {
    const Labeled& b = ts[k];
    const std::string need = needed_after(k);
    ir::DotDims d;
    std::string batch, lfree, rfree;
    for (size_t i = 0; i < acc.labels.size(); ++i) {
      const char c = acc.labels[i];
      const size_t j = b.labels.find(c);
      if (j == std::string::npos) {
        lfree += c;
      } else if (need.find(c) != std::string::npos) {
        d.lhs_batch.push_back(static_cast<int64_t>(i));
        d.rhs_batch.push_back(static_cast<int64_t>(j));
        batch += c;
      } else {
        d.lhs_contract.push_back(static_cast<int64_t>(i));
        d.rhs_contract.push_back(static_cast<int64_t>(j));
      }
    }
    for (char c : b.labels)
      if (acc.labels.find(c) == std::string::npos) rfree += c;
    acc = {dot_general(acc.x, b.x, std::move(d), loc), batch + lfree + rfree};
  }
  acc = sum_unused(acc, output, loc);
  std::vector<int64_t> perm;
  for (char c : output) perm.push_back(static_cast<int64_t>(acc.labels.find(c)));
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity = identity && perm[i] == static_cast<int64_t>(i);
  return identity ? acc.x : transpose(acc.x, perm, loc);
}

}  // namespace kiln
