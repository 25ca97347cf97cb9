// The primitive table: one row per primitive, in the enum's order.
#include <array>

#include "kiln/ir.hpp"

namespace kiln::ir {
namespace {

using K = PrimKind;
constexpr std::array<PrimInfo, kNumPrims> kPrims = {{
    {"parameter", K::structural, 0, false},
    {"constant", K::structural, 0, false},
    {"full", K::structural, 0, false},
    {"iota", K::structural, 0, false},
    {"neg", K::unary, 1, true},
    {"abs", K::unary, 1, true},
    {"sign", K::unary, 1, true},
    {"exp", K::unary, 1, true},
    {"log", K::unary, 1, true},
    {"log1p", K::unary, 1, true},
    {"expm1", K::unary, 1, true},
    {"sqrt", K::unary, 1, true},
    {"rsqrt", K::unary, 1, true},
    {"tanh", K::unary, 1, true},
    {"logistic", K::unary, 1, true},
    {"sin", K::unary, 1, true},
    {"cos", K::unary, 1, true},
    {"erf", K::unary, 1, true},
    {"erf_inv", K::unary, 1, true},
    {"floor", K::unary, 1, true},
    {"ceil", K::unary, 1, true},
    {"round", K::unary, 1, true},
    {"not", K::unary, 1, false},
    {"stop_gradient", K::unary, 1, true},
    {"convert_element_type", K::unary, 1, true},
    {"bitcast_convert_type", K::unary, 1, false},
    {"add", K::binary, 2, true},
    {"sub", K::binary, 2, true},
    {"mul", K::binary, 2, true},
    {"div", K::binary, 2, true},
    {"rem", K::binary, 2, true},
    {"pow", K::binary, 2, true},
    {"max", K::binary, 2, true},
    {"min", K::binary, 2, true},
    {"and", K::binary, 2, false},
    {"or", K::binary, 2, false},
    {"xor", K::binary, 2, false},
    {"shift_left", K::binary, 2, false},
    {"shift_right_logical", K::binary, 2, false},
    {"eq", K::compare, 2, false},
    {"ne", K::compare, 2, false},
    {"lt", K::compare, 2, false},
    {"le", K::compare, 2, false},
    {"gt", K::compare, 2, false},
    {"ge", K::compare, 2, false},
    {"select", K::select, 3, true},
    {"broadcast_in_dim", K::shape, 1, true},
    {"reshape", K::shape, 1, true},
    {"transpose", K::shape, 1, true},
    {"slice", K::shape, 1, true},
    {"concatenate", K::shape, -1, true},
    {"pad", K::shape, 2, true},
    {"reduce_sum", K::reduce, 1, true},
    {"reduce_max", K::reduce, 1, true},
    {"reduce_min", K::reduce, 1, true},
    {"argmax", K::reduce, 1, false},
    {"dot_general", K::contraction, 2, true},
    {"conv_general_dilated", K::convolution, 2, true},
    {"reduce_window_sum", K::window, 1, true},
    {"reduce_window_max", K::window, 1, true},
    {"select_and_scatter_add", K::window, 2, false},
    {"rev", K::shape, 1, true},
    {"threefry2x32", K::random, 2, false},
}};

}  // namespace

const PrimInfo& info(Prim p) {
  return kPrims[static_cast<size_t>(p)];
}
std::string_view name(Prim p) {
  return info(p).name;
}

}  // namespace kiln::ir
