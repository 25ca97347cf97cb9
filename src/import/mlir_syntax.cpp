#include "import/mlir_syntax.hpp"

#include <charconv>

#include "import/mlir_lexer.hpp"
#include "kiln/error.hpp"

namespace kiln::mlir {
namespace {

// MLIR's element types for kiln's dtypes (as the exporter writes them).
constexpr std::pair<std::string_view, DType> kElementTypes[] = {
    {"i1", DType::bool_},
    {"ui8", DType::uint8},
    {"ui16", DType::uint16},
    {"ui32", DType::uint32},
    {"ui64", DType::uint64},
    {"i8", DType::int8},
    {"i16", DType::int16},
    {"i32", DType::int32},
    {"i64", DType::int64},
    {"bf16", DType::bfloat16},
    {"f16", DType::float16},
    {"f32", DType::float32},
    {"f64", DType::float64},
    {"complex<f32>", DType::complex64},
    {"complex<f64>", DType::complex128}};

}  // namespace

std::string where(std::string_view source_name, Pos pos) {
  return std::string(source_name) + ":" + std::to_string(pos.line) + ":" +
         std::to_string(pos.column) + ": ";
}

std::string type_text(const ir::ValueType& t) {
  std::string out = "tensor<";
  for (int64_t d : t.shape) out += std::to_string(d) + "x";
  for (auto [name, dt] : kElementTypes)
    if (dt == t.dtype) return out + std::string(name) + ">";
  return out + std::string(kiln::name(t.dtype)) + ">";
}

const Attr* Attr::field(std::string_view key) const {
  for (const Attr& entry : items)
    if (entry.key == key) return &entry;
  return nullptr;
}

const Attr* Op::attr(std::string_view key) const {
  for (const auto& [k, v] : attrs)
    if (k == key) return &v;
  return nullptr;
}

namespace {

// Deeper nesting than this (attributes, regions) is refused rather than recursed into: no
// StableHLO a model exports comes close, and hostile text must not exhaust the stack.
constexpr int kMaxDepth = 200;

const char* tok_name(Tok t) {
  switch (t) {
    case Tok::end:
      return "the end of the text";
    case Tok::lparen:
      return "'('";
    case Tok::rparen:
      return "')'";
    case Tok::lbracket:
      return "'['";
    case Tok::rbracket:
      return "']'";
    case Tok::lbrace:
      return "'{'";
    case Tok::rbrace:
      return "'}'";
    case Tok::langle:
      return "'<'";
    case Tok::rangle:
      return "'>'";
    case Tok::comma:
      return "','";
    case Tok::colon:
      return "':'";
    case Tok::equal:
      return "'='";
    case Tok::arrow:
      return "'->'";
    case Tok::value:
      return "an SSA value (%name)";
    case Tok::symbol:
      return "a symbol (@name)";
    case Tok::tensor:
      return "a tensor type";
    case Tok::integer:
      return "an integer";
    case Tok::string:
      return "a string";
    case Tok::ident:
      return "an identifier";
    default:
      return "a token";
  }
}

DType element_dtype(std::string_view e, bool& ok) {
  for (auto [name, t] : kElementTypes)
    if (name == e) {
      ok = true;
      return t;
    }
  ok = false;
  return DType::float32;
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view source,
         const std::function<bool(std::string_view)>& known)
      : source_(source), known_(known) {
    Lexer lex(text);
    for (;;) {
      toks_.push_back(lex.next());
      if (toks_.back().kind == Tok::end) break;
    }
  }

  Module module() {
    Module m;
    bool seen_module = false;
    while (!at(Tok::end)) {
      if (at(Tok::hash) && peek(1).kind == Tok::equal) {
        skip_alias();
      } else if (at_ident("module") && !seen_module) {
        seen_module = true;
        take();
        if (at(Tok::symbol)) m.name = symbol_name(take());
        if (at_ident("attributes")) {
          take();
          attr_dict();
        }
        expect(Tok::lbrace, "'{' opening the module's body");
        while (!at(Tok::rbrace)) {
          if (at(Tok::end)) fail(cur(), "the module's '{' is never closed", "Add the closing '}'");
          if (at(Tok::hash) && peek(1).kind == Tok::equal) {
            skip_alias();
          } else {
            m.funcs.push_back(func());
          }
        }
        take();
      } else {
        m.funcs.push_back(func());
      }
    }
    return m;
  }

 private:
  // --- tokens ---------------------------------------------------------------------------------
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t k) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  bool at(Tok t) const { return cur().kind == t; }
  bool at_ident(std::string_view s) const { return at(Tok::ident) && cur().text == s; }
  const Token& take() {
    const Token& t = toks_[i_];
    if (i_ + 1 < toks_.size()) ++i_;
    return t;
  }
  static Pos pos(const Token& t) { return {t.line, t.column}; }

  [[noreturn]] void fail(const Token& t, const std::string& what, const std::string& hint) const {
    throw ValueError(where(source_, pos(t)) + what + (hint.empty() ? "" : ". " + hint));
  }
  [[noreturn]] void unexpected(const std::string& wanted) const {
    const Token& t = cur();
    const std::string found =
        t.kind == Tok::end ? "the end of the text" : "'" + std::string(t.text) + "'";
    fail(t, "expected " + wanted + ", found " + found + (context_.empty() ? "" : " in " + context_),
         "Check the text against the op's syntax (docs/import.md)");
  }
  const Token& expect(Tok t, const std::string& what = "") {
    if (!at(t)) unexpected(what.empty() ? tok_name(t) : what);
    return take();
  }
  void expect_ident(std::string_view s) {
    if (!at_ident(s)) unexpected("'" + std::string(s) + "'");
    take();
  }
  bool accept(Tok t) {
    if (!at(t)) return false;
    take();
    return true;
  }
  static std::string symbol_name(const Token& t) {
    std::string_view s = t.text.substr(1);
    if (s.size() >= 2 && s.front() == '"') s = s.substr(1, s.size() - 2);
    return std::string(s);
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        p.fail(p.cur(), "nesting deeper than " + std::to_string(kMaxDepth) + " levels",
               "Flatten the text; no exported module nests this deep");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // `#loc3 = loc(...)` (the lexer already dropped the loc) or another attribute alias.
  void skip_alias() {
    const int line = take().line;
    take();  // '='
    if (!at(Tok::end) && cur().line == line) attr();
  }

  // --- types ----------------------------------------------------------------------------------
  ir::ValueType tensor_type(const Token& t) {
    std::string_view s = t.text.substr(7, t.text.size() - 8);  // inside "tensor<...>"
    Shape shape;
    int64_t numel = 1;
    for (;;) {
      size_t k = 0;
      while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k;
      if (k < s.size() && s[k] == '?')
        throw Unsupported(where(source_, pos(t)) + "dynamic dimension in " + std::string(t.text) +
                          ". kiln graphs have static shapes: export with concrete shapes");
      if (k == 0 || k >= s.size() || s[k] != 'x') break;
      int64_t d = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + k, d);
      if (ec != std::errc() || end != s.data() + k || d > (int64_t{1} << 40))
        fail(t, "dimension out of range in " + std::string(t.text), "Use smaller dimensions");
      if (shape.rank() == Shape::kMaxRank)
        throw Unsupported(where(source_, pos(t)) + std::string(t.text) + " has more than " +
                          std::to_string(Shape::kMaxRank) +
                          " dimensions. kiln arrays have at most that many: reshape first");
      constexpr int64_t kMaxElements = int64_t{1} << 48;
      if (d > 0 && numel > kMaxElements / d)
        fail(t, std::string(t.text) + " has more elements than kiln can address",
             "Use smaller tensors");
      numel *= d;
      shape.push_back(d);
      s.remove_prefix(k + 1);
    }
    bool ok = false;
    const DType dt = element_dtype(s, ok);
    if (!ok) {
      fail(t, "unknown element type in " + std::string(t.text),
           "Use i1, ui8..ui64, i8..i64, bf16, f16, f32, f64, complex<f32> or complex<f64>");
    }
    return {dt, shape};
  }
  ir::ValueType type() {
    if (at(Tok::tensor)) return tensor_type(take());
    if (at(Tok::ident)) {  // a scalar type outside a tensor (`1 : i64`)
      bool ok = false;
      const DType dt = element_dtype(cur().text, ok);
      if (ok) {
        take();
        return {dt, {}};
      }
    }
    unexpected("a tensor type");
  }
  std::vector<ir::ValueType> type_list_in_parens() {
    std::vector<ir::ValueType> out;
    expect(Tok::lparen);
    if (accept(Tok::rparen)) return out;
    do {
      out.push_back(type());
      if (at(Tok::lbrace)) attr_dict();  // result attributes in a signature
    } while (accept(Tok::comma));
    expect(Tok::rparen, "')' closing a type list");
    return out;
  }
  // After ':': `(A, B) -> R`, `(A) -> (R, S)`, `T -> R` or `T, U, ...`.
  void trailing_type(Op& op) {
    expect(Tok::colon, "':' and the op's type");
    if (at(Tok::lparen)) {
      op.function_type = true;
      op.operand_types = type_list_in_parens();
      expect(Tok::arrow, "'->' and the result types");
      if (at(Tok::lparen)) {
        op.result_types = type_list_in_parens();
      } else {
        op.result_types.push_back(type());
      }
      return;
    }
    op.types.push_back(type());
    if (accept(Tok::arrow)) {  // T -> R, or T -> (R1, R2) (chlo.top_k)
      op.function_type = true;
      op.operand_types = std::move(op.types);
      op.types.clear();
      if (at(Tok::lparen)) {
        op.result_types = type_list_in_parens();
      } else {
        op.result_types.push_back(type());
      }
      return;
    }
    while (accept(Tok::comma)) op.types.push_back(type());
  }

  // --- attributes -----------------------------------------------------------------------------
  Attr attr() {
    DepthGuard guard(*this);
    Attr a;
    a.pos = pos(cur());
    switch (cur().kind) {
      case Tok::lbracket: {
        take();
        a.kind = Attr::Kind::list;
        if (!accept(Tok::rbracket)) {
          do a.items.push_back(attr());
          while (accept(Tok::comma));
          expect(Tok::rbracket, "']' closing a list");
        }
        // `[1] x [0]` (dot_general dims) and `[b, 0, f]x[0, i, o]->[b, 0, f]` (conv layouts)
        if (at_ident("x") && peek(1).kind == Tok::lbracket) {
          take();
          Attr pair;
          pair.kind = Attr::Kind::list;
          pair.pos = a.pos;
          pair.text = "x";
          pair.items.push_back(std::move(a));
          pair.items.push_back(attr());
          if (pair.items[1].text == "x") fail(cur(), "a list product 'x' chained twice", "");
          if (accept(Tok::arrow)) {
            pair.text = "->";
            pair.items.push_back(attr());
          }
          return pair;
        }
        return a;
      }
      case Tok::lbrace:
        a.kind = Attr::Kind::dict;
        for (auto& [k, v] : attr_dict()) {
          v.key = k;
          a.items.push_back(std::move(v));
        }
        return a;
      case Tok::integer:
      case Tok::floating: {
        const Token& t = take();
        a.kind = t.kind == Tok::integer ? Attr::Kind::integer : Attr::Kind::floating;
        a.text = std::string(t.text);
        if (t.kind == Tok::integer) read_integer(t, a);
        if (at(Tok::colon) && peek(1).kind == Tok::ident) {  // `1 : i64`, not `0 : tensor<..>`
          take();
          a.type = type();
        }
        return a;
      }
      case Tok::string:
        a.kind = Attr::Kind::string;
        a.text = std::string(take().text);
        return a;
      case Tok::symbol:  // callee = @f
      case Tok::tensor:
        a.kind = Attr::Kind::keyword;
        a.text = std::string(take().text);
        return a;
      case Tok::hash: {
        const Token& h = take();
        if (!at(Tok::langle)) {  // an alias reference (#loc3)
          a.kind = Attr::Kind::opaque;
          a.text = std::string(h.text);
          return a;
        }
        return hash_attr(h);
      }
      case Tok::langle:
        a.kind = Attr::Kind::opaque;
        a.text = balanced_angle_text();
        return a;
      case Tok::ident: {
        const Token& t = take();
        if (t.text == "dense" && at(Tok::langle)) return dense(a);
        if (t.text == "array" && at(Tok::langle)) return array(a);
        a.kind = Attr::Kind::keyword;
        a.text = std::string(t.text);
        if (at(Tok::langle)) a.text += balanced_angle_text();  // affine_map<...> and kin
        return a;
      }
      default:
        unexpected("an attribute value");
    }
  }

  void read_integer(const Token& t, Attr& a) {
    std::string_view s = t.text;
    const bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    uint64_t u = 0;
    std::from_chars_result r{};
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      a.is_hex = true;
      r = std::from_chars(s.data() + 2, s.data() + s.size(), u, 16);
    } else {
      r = std::from_chars(s.data(), s.data() + s.size(), u);
    }
    if (r.ec != std::errc() || r.ptr != s.data() + s.size())
      fail(t, "integer " + std::string(t.text) + " out of range", "Integers must fit 64 bits");
    a.integer = neg ? static_cast<int64_t>(0 - u) : static_cast<int64_t>(u);
  }

  // `{key = value, flag, "quoted.key" = value}`
  std::vector<std::pair<std::string, Attr>> attr_dict() {
    DepthGuard guard(*this);
    std::vector<std::pair<std::string, Attr>> out;
    expect(Tok::lbrace);
    if (accept(Tok::rbrace)) return out;
    do {
      if (at(Tok::rbrace)) break;  // a trailing comma, as hand-written modules have
      if (!at(Tok::ident) && !at(Tok::string)) unexpected("an attribute name");
      const Token& k = take();
      Attr v;
      v.pos = pos(k);
      if (accept(Tok::equal)) v = attr();
      out.emplace_back(std::string(k.text), std::move(v));
    } while (accept(Tok::comma));
    expect(Tok::rbrace, "'}' closing an attribute dictionary");
    return out;
  }

  // `#stablehlo.dot<k = v, ...>` (a dict), `#stablehlo.conv<[b, 0, f]x...>` (a layout),
  // `#stablehlo<comparison_direction GT>` (opaque text).
  Attr hash_attr(const Token& h) {
    Attr a;
    a.pos = pos(h);
    const size_t open = i_;
    take();  // '<'
    if (at(Tok::ident) && peek(1).kind == Tok::equal) {
      a.kind = Attr::Kind::dict;
      do {
        const Token& k = expect(Tok::ident, "a field name");
        expect(Tok::equal);
        a.items.push_back(attr());
        a.items.back().key = std::string(k.text);
      } while (accept(Tok::comma));
      expect(Tok::rangle, "'>' closing " + std::string(h.text) + "<...>");
      return a;
    }
    if (at(Tok::lbracket)) {
      a = attr();
      expect(Tok::rangle, "'>' closing " + std::string(h.text) + "<...>");
      return a;
    }
    i_ = open;
    a.kind = Attr::Kind::opaque;
    a.text = balanced_angle_text();
    return a;
  }

  // The tokens of `<...>` (nested angles included) joined by spaces, without the outer angles.
  std::string balanced_angle_text() {
    expect(Tok::langle);
    std::string out;
    int depth = 1;
    for (;;) {
      if (at(Tok::end)) unexpected("'>'");
      const Token& t = take();
      if (t.kind == Tok::langle) ++depth;
      if (t.kind == Tok::rangle && --depth == 0) return out;
      if (!out.empty()) out += ' ';
      out += t.text;
    }
  }

  // dense<...> : tensor<...>. The literal's elements stay text until the importer knows the type.
  Attr dense(Attr a) {
    a.kind = Attr::Kind::dense;
    take();  // '<'
    if (!at(Tok::rangle)) {
      if (at(Tok::string)) {
        Attr hex;
        hex.kind = Attr::Kind::string;
        hex.pos = pos(cur());
        hex.text = std::string(take().text);
        a.items.push_back(std::move(hex));
      } else {
        a.items.push_back(dense_element());
      }
    }
    expect(Tok::rangle, "'>' closing dense<...>");
    expect(Tok::colon, "':' and the dense literal's type");
    a.type = type();
    return a;
  }
  Attr dense_element() {
    DepthGuard guard(*this);
    Attr e;
    e.pos = pos(cur());
    if (accept(Tok::lbracket)) {
      e.kind = Attr::Kind::list;
      if (!accept(Tok::rbracket)) {
        do e.items.push_back(dense_element());
        while (accept(Tok::comma));
        expect(Tok::rbracket, "']' in a dense literal");
      }
      return e;
    }
    if (at(Tok::integer) || at(Tok::floating)) {
      const Token& t = take();
      e.kind = t.kind == Tok::integer ? Attr::Kind::integer : Attr::Kind::floating;
      e.text = std::string(t.text);
      if (t.kind == Tok::integer) read_integer(t, e);
      return e;
    }
    if (at_ident("true") || at_ident("false")) {
      e.kind = Attr::Kind::keyword;
      e.text = std::string(take().text);
      return e;
    }
    if (accept(Tok::lparen)) {  // (re,im)
      e.kind = Attr::Kind::complex;
      for (int part = 0; part < 2; ++part) {
        if (part == 1) expect(Tok::comma, "',' between a complex element's parts");
        Attr x = dense_element();
        if (x.kind != Attr::Kind::integer && x.kind != Attr::Kind::floating)
          fail(cur(), "a complex element's parts must be numbers", "Write (1.0,2.0) for 1 + 2i");
        e.items.push_back(std::move(x));
      }
      expect(Tok::rparen, "')' closing a complex element");
      return e;
    }
    unexpected("a dense literal element (number, true, false or [...])");
  }
  // array<i64: 1, 2> or array<i64> (empty)
  Attr array(Attr a) {
    a.kind = Attr::Kind::list;
    take();  // '<'
    expect(Tok::ident, "an element type");
    if (accept(Tok::colon)) {
      do a.items.push_back(dense_element());
      while (accept(Tok::comma));
    }
    expect(Tok::rangle, "'>' closing array<...>");
    return a;
  }

  // --- ops ------------------------------------------------------------------------------------
  void operand(Op& op) {
    const Token& t = expect(Tok::value, "an operand (%name)");
    op.operands.emplace_back(t.text);
    op.operand_pos.push_back(pos(t));
  }
  void operand_list(Op& op) {
    if (!at(Tok::value)) return;
    do operand(op);
    while (accept(Tok::comma));
  }

  Op op() {
    DepthGuard guard(*this);
    Op o;
    if (at(Tok::value)) {
      do {
        const Token& r = take();
        if (r.text.find('#') != std::string_view::npos)
          fail(r, "a result name cannot have a '#' index", "Name results %name or %name:N");
        if (accept(Tok::colon)) {
          const Token& n = expect(Tok::integer, "the result count");
          if (n.text.size() > 3 || n.text[0] == '-')
            fail(n, "result count " + std::string(n.text) + " out of range", "");
          const int count = std::stoi(std::string(n.text));
          for (int k = 0; k < count; ++k)
            o.results.push_back(std::string(r.text) + "#" + std::to_string(k));
        } else {
          o.results.emplace_back(r.text);
        }
      } while (accept(Tok::comma));
      expect(Tok::equal, "'=' after the result names");
    }
    o.pos = pos(cur());
    const bool generic = at(Tok::string);
    if (!generic && !at(Tok::ident)) unexpected("an op name");
    o.name = std::string(take().text);
    if (!known_(o.name))
      throw Unsupported(where(source_, o.pos) + o.name +
                        " is not supported: kiln has no primitive for it. Express the function "
                        "without it (docs/import.md lists the ops kiln imports)");
    const std::string saved = context_;
    context_ = o.name;
    if (generic) {
      generic_op(o);
    } else {
      pretty_op(o);
    }
    context_ = saved;
    return o;
  }

  // "name"(%a, %b) <{props}> ({regions}) {attrs} : (A, B) -> R
  void generic_op(Op& o) {
    expect(Tok::lparen);
    operand_list(o);
    expect(Tok::rparen, "')' closing the operands");
    if (at(Tok::langle)) {
      take();
      for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
      expect(Tok::rangle, "'>' closing the properties <{...}>");
    }
    if (accept(Tok::lparen)) {
      do o.regions.push_back(region());
      while (accept(Tok::comma));
      expect(Tok::rparen, "')' closing the regions");
    }
    if (at(Tok::lbrace))
      for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
    if (const Attr* callee = o.attr("callee"); callee && callee->text.size() > 1)
      o.callee = callee->text.substr(1);
    trailing_type(o);
  }

  // `{ ^bb0(%a: T, %b: T): ops }` or `{ ops }`
  Region region() {
    Region r;
    expect(Tok::lbrace, "'{' opening a region");
    if (at(Tok::block)) {
      take();
      r.args = block_args();
      expect(Tok::colon, "':' after the block's arguments");
    }
    region_ops(r);
    return r;
  }
  std::vector<std::pair<std::string, ir::ValueType>> block_args() {
    std::vector<std::pair<std::string, ir::ValueType>> args;
    expect(Tok::lparen, "'(' opening the arguments");
    if (accept(Tok::rparen)) return args;
    do {
      const Token& n = expect(Tok::value, "an argument name");
      expect(Tok::colon, "':' and the argument's type");
      args.emplace_back(std::string(n.text), type());
      if (at(Tok::lbrace)) attr_dict();
    } while (accept(Tok::comma));
    expect(Tok::rparen, "')' closing the arguments");
    return args;
  }
  void region_ops(Region& r) {
    while (!at(Tok::rbrace)) {
      if (at(Tok::end)) unexpected("'}' closing a region");
      r.ops.push_back(op());
    }
    take();
  }

  void pretty_op(Op& o) {
    const std::string& n = o.name;
    if (n == "stablehlo.constant") {
      if (at(Tok::lbrace))
        for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
      Attr v = attr();
      if (v.kind != Attr::Kind::dense) fail(toks_[i_ - 1], "expected dense<...>", "");
      o.types.push_back(v.type);
      o.attrs.emplace_back("value", std::move(v));
    } else if (n == "stablehlo.slice") {
      operand(o);
      slice_ranges(o);
      trailing_type(o);
    } else if (n == "stablehlo.convolution") {
      expect(Tok::lparen);
      operand_list(o);
      expect(Tok::rparen, "')' closing the operands");
      keyed_items(o);
      if (at(Tok::lbrace))
        for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
      trailing_type(o);
    } else if (n == "stablehlo.reduce") {
      pretty_reduce(o);
    } else if (n == "stablehlo.while") {
      pretty_while(o);
    } else if (n == "chlo.top_k") {  // chlo.top_k(%x, k = 2) : T -> (V, I)
      expect(Tok::lparen);
      keyed_items(o);
      expect(Tok::rparen, "')' closing the operand and k");
      trailing_type(o);
    } else if (n == "call" || n == "func.call" || n == "stablehlo.custom_call") {
      o.callee = symbol_name(expect(Tok::symbol, "the callee (@name)"));
      expect(Tok::lparen);
      operand_list(o);
      expect(Tok::rparen, "')' closing the arguments");
      if (at(Tok::lbrace))
        for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
      trailing_type(o);
    } else if (n == "return" || n == "func.return" || n == "stablehlo.return") {
      operand_list(o);
      if (!o.operands.empty()) trailing_type(o);
    } else {
      keyed_items(o);
      if (at(Tok::lbrace))
        for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
      trailing_type(o);
    }
  }

  // The comma-separated middle of most pretty forms: operands (%x), `key = value` attributes and
  // positional words (compare's `GT` and `FLOAT`).
  void keyed_items(Op& o) {
    if (at(Tok::colon) || at(Tok::lbrace)) return;
    do {
      if (at(Tok::value)) {
        operand(o);
      } else if (at(Tok::ident) && peek(1).kind == Tok::equal) {
        const std::string key(take().text);
        take();
        o.attrs.emplace_back(key, attr());
      } else if (at(Tok::ident)) {
        o.keywords.emplace_back(take().text);
      } else {
        unexpected("an operand, 'name = value' or ':'");
      }
    } while (accept(Tok::comma));
  }

  // `[0:2, 1:5:2]` -> start_indices, limit_indices, strides
  void slice_ranges(Op& o) {
    Attr start, limit, strides;
    for (Attr* a : {&start, &limit, &strides}) {
      a->kind = Attr::Kind::list;
      a->pos = pos(cur());
    }
    expect(Tok::lbracket, "'[' opening the slice ranges");
    if (!accept(Tok::rbracket)) {
      do {
        Attr b = integer_attr();
        expect(Tok::colon, "':' in start:limit");
        Attr e = integer_attr();
        Attr s;
        s.kind = Attr::Kind::integer;
        s.integer = 1;
        if (accept(Tok::colon)) s = integer_attr();
        start.items.push_back(b);
        limit.items.push_back(e);
        strides.items.push_back(s);
      } while (accept(Tok::comma));
      expect(Tok::rbracket, "']' closing the slice ranges");
    }
    o.attrs.emplace_back("start_indices", std::move(start));
    o.attrs.emplace_back("limit_indices", std::move(limit));
    o.attrs.emplace_back("strides", std::move(strides));
  }
  Attr integer_attr() {
    Attr a;
    a.pos = pos(cur());
    a.kind = Attr::Kind::integer;
    const Token& t = expect(Tok::integer);
    a.text = std::string(t.text);
    read_integer(t, a);
    return a;
  }

  // stablehlo.reduce(%x init: %c), (%y init: %d) applies OP across dimensions = [..] : type
  // or, without `applies`, followed by `reducer(%a: T, %b: T) (%c: U, %d: U) { ops }`.
  void pretty_reduce(Op& o) {
    Op inits;
    do {
      expect(Tok::lparen);
      operand(o);
      expect_ident("init");
      expect(Tok::colon);
      operand(inits);
      expect(Tok::rparen, "')' after the init value");
    } while (accept(Tok::comma));
    o.operands.insert(o.operands.end(), inits.operands.begin(), inits.operands.end());
    o.operand_pos.insert(o.operand_pos.end(), inits.operand_pos.begin(), inits.operand_pos.end());
    if (at_ident("applies")) {
      take();
      Attr body;
      body.pos = pos(cur());
      body.kind = Attr::Kind::keyword;
      body.text = std::string(expect(Tok::ident, "the reducing op's name").text);
      o.attrs.emplace_back("applies", std::move(body));
    }
    expect_ident("across");
    expect_ident("dimensions");
    expect(Tok::equal);
    o.attrs.emplace_back("dimensions", attr());
    if (at(Tok::lbrace))
      for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
    trailing_type(o);
    if (o.attr("applies")) return;
    expect_ident("reducer");
    // Each group is (accumulator, element) of one operand; the region wants all accumulators
    // first, as the generic form lists them.
    std::vector<std::pair<std::string, ir::ValueType>> lhs, rhs;
    while (at(Tok::lparen)) {
      auto group = block_args();
      if (group.size() != 2)
        fail(cur(),
             "a reducer argument group has " + std::to_string(group.size()) +
                 " arguments, expected 2",
             "Write reducer(%acc: T, %x: T)");
      lhs.push_back(group[0]);
      rhs.push_back(group[1]);
    }
    Region r;
    r.args = lhs;
    r.args.insert(r.args.end(), rhs.begin(), rhs.end());
    expect(Tok::lbrace, "'{' opening the reducer body");
    region_ops(r);
    o.regions.push_back(std::move(r));
  }

  // stablehlo.while(%iterArg = %init, ...) : T, ... [attributes {...}] cond { ops } do { ops }
  // Both regions take the loop-carried values as their arguments, named as in the header; the
  // result types are the operand types (function_type, as the generic form writes it).
  void pretty_while(Op& o) {
    expect(Tok::lparen);
    std::vector<std::string> names;
    if (!at(Tok::rparen)) {
      do {
        names.emplace_back(expect(Tok::value, "a loop-carried value (%iterArg = %init)").text);
        expect(Tok::equal, "'=' and the loop-carried value's initial value");
        operand(o);
      } while (accept(Tok::comma));
    }
    expect(Tok::rparen, "')' closing the loop-carried values");
    o.function_type = true;
    if (accept(Tok::colon)) {
      do o.operand_types.push_back(type());
      while (accept(Tok::comma));
    }
    if (o.operand_types.size() != names.size())
      fail(cur(),
           "stablehlo.while has " + std::to_string(names.size()) + " loop-carried values but " +
               std::to_string(o.operand_types.size()) + " types",
           "Give one type per loop-carried value");
    o.result_types = o.operand_types;
    if (at_ident("attributes")) {
      take();
      for (auto& f : attr_dict()) o.attrs.push_back(std::move(f));
    }
    for (const char* word : {"cond", "do"}) {
      expect_ident(word);
      Region r;
      for (size_t k = 0; k < names.size(); ++k) r.args.emplace_back(names[k], o.operand_types[k]);
      expect(Tok::lbrace, std::string("'{' opening the while's ") + word + " region");
      region_ops(r);
      o.regions.push_back(std::move(r));
    }
  }

  // --- functions ------------------------------------------------------------------------------
  Func func() {
    if (!at_ident("func.func") && !at_ident("func")) unexpected("'func.func' or 'module'");
    Func f;
    take();
    if (at_ident("public") || at_ident("private") || at_ident("nested"))
      f.is_public = take().text == "public";
    f.pos = pos(cur());
    f.name = symbol_name(expect(Tok::symbol, "the function's name (@name)"));
    context_ = "@" + f.name;
    f.body.args = block_args();
    if (accept(Tok::arrow)) {
      if (at(Tok::lparen)) {
        f.results = type_list_in_parens();
      } else {
        f.results.push_back(type());  // unparenthesized: no attributes (the '{' is the body's)
      }
    }
    if (at_ident("attributes")) {
      take();
      attr_dict();
    }
    expect(Tok::lbrace, "'{' opening the function's body");
    region_ops(f.body);
    context_.clear();
    return f;
  }

  std::string_view source_;
  const std::function<bool(std::string_view)>& known_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  std::string context_;  // the op or function being read, for messages
};

}  // namespace

Module parse_module(std::string_view text, std::string_view source_name,
                    const std::function<bool(std::string_view)>& known_op) {
  return Parser(text, source_name, known_op).module();
}

}  // namespace kiln::mlir
