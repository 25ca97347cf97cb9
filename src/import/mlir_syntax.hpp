// The syntax tree of a StableHLO module and its parser. The parser knows MLIR's generic op form
// (`"stablehlo.add"(%a, %b) : (...) -> ...`) and the pretty forms StableHLO prints, and turns
// both into the same Op: the pretty `dims = [1]` of broadcast_in_dim and the generic
// `broadcast_dimensions = array<i64: 1>` are both attributes the importer reads by name.
// Nothing here knows what an op computes; src/import/stablehlo_import.cpp does.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/ir.hpp"

namespace kiln::mlir {

// Where something is in the text, for messages: "model.mlir:12:5".
struct Pos {
  int line = 0, column = 0;
};

// An attribute value, as far as the importer needs to see into one.
struct Attr {
  enum class Kind : uint8_t {
    integer,   // 3, 1 : i64
    floating,  // 1.0
    string,    // "result"
    keyword,   // DEFAULT, GT, true, b (conv layouts), unit attributes
    list,      // [1, 2], array<i64: 1, 2>, `[1] x [0]` (a list of two lists), conv layouts
    dict,      // {stride = [1]}, #stablehlo.dot<lhs_batching_dimensions = [0], ...>: `items`
    dense,     // dense<...> : tensor<...>; items[0] holds the literal (a list, a scalar or a hex
               // string), `type` its tensor type
    opaque,    // anything else (#stablehlo<precision DEFAULT>): its tokens joined by spaces
    complex,   // (1.0,2.0): a complex element of a dense literal; items holds the two parts
  };
  Kind kind = Kind::keyword;
  Pos pos;
  int64_t integer = 0;
  std::string text;         // string, keyword, opaque; integer/floating: the literal's text
  std::vector<Attr> items;  // list, dense; dict: its entries, each named by `key`
  std::string key;          // an entry of a dict: its name
  ir::ValueType type;       // dense: the tensor type
  bool is_hex = false;      // integer written 0x...: for a float element, its bits

  const Attr* field(std::string_view key) const;
};

struct Op;

// A block of ops with named arguments: a reducer body, a function body.
struct Region {
  std::vector<std::pair<std::string, ir::ValueType>> args;
  std::vector<Op> ops;
};

struct Op {
  std::string name;                   // "stablehlo.add", "func.call", "func.return"
  Pos pos;                            // of the op name
  std::vector<std::string> results;   // "%0"; `%0:2 = ...` gives "%0#0", "%0#1"
  std::vector<std::string> operands;  // as written: "%arg0", "%3#1"
  std::vector<Pos> operand_pos;
  std::vector<std::pair<std::string, Attr>> attrs;  // properties and attributes, in text order
  std::vector<std::string> keywords;  // positional words of a pretty form: compare's GT, FLOAT
  std::vector<Region> regions;
  std::string callee;  // func.call: the function's name without '@'
  // The trailing type: `(A, B) -> R` fills operand_types and result_types; a plain list
  // (`: T` or select's `: tensor<i1>, T`) fills only `types`.
  bool function_type = false;
  std::vector<ir::ValueType> operand_types, result_types, types;

  const Attr* attr(std::string_view key) const;
};

struct Func {
  std::string name;  // without '@'
  Pos pos;
  bool is_public = true;
  Region body;  // args: the function's arguments
  std::vector<ir::ValueType> results;
};

struct Module {
  std::string name;  // without '@'; empty when the module has none
  std::vector<Func> funcs;
};

// `known_op` decides, at each op's name, whether the importer can lower it: an op it cannot is
// reported there (Unsupported), before its (possibly unfamiliar) syntax is read.
Module parse_module(std::string_view text, std::string_view source_name,
                    const std::function<bool(std::string_view)>& known_op);

// "tensor<4x8xf32>": a type as the text writes it, for messages.
std::string type_text(const ir::ValueType& t);

// "model.mlir:3:7: " — the prefix of every import message.
std::string where(std::string_view source_name, Pos pos);

}  // namespace kiln::mlir
