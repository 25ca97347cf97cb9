// The tokens of MLIR's textual form, as far as StableHLO modules use them. Comments (`// ...`),
// location trailers (`loc(...)`) and whitespace are skipped here, so the parser never sees them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::mlir {

enum class Tok : uint8_t {
  end,
  ident,     // bare identifier: stablehlo.add, func.func, tensor, dense, i64, GT, x
  value,     // %arg0, %0, %cst_1, %3#1 (a result of a multi-result op)
  symbol,    // @main
  hash,      // #stablehlo, #stablehlo.conv, #loc3
  block,     // ^bb0
  integer,   // 42, -7, 0x7F800000
  floating,  // 1.000000e+00, -2.5
  string,    // "result" (text holds the unescaped contents)
  lparen,
  rparen,
  lbracket,
  rbracket,
  lbrace,
  rbrace,
  langle,
  rangle,
  comma,
  colon,
  equal,
  arrow,     // ->
  question,  // ?
  tensor,    // a whole tensor type, `tensor<4x8xf32>`: read as one token because `4x8xf32`
             // is not made of MLIR's ordinary tokens
  other,     // any other character: always a syntax error where it appears
};

struct Token {
  Tok kind = Tok::end;
  std::string_view text;  // the source text (for strings: without the quotes, still escaped)
  int line = 1, column = 1;
};

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  // The next token, consumed.
  Token next();

 private:
  char peek(size_t k = 0) const { return pos_ + k < src_.size() ? src_[pos_ + k] : '\0'; }
  void advance(size_t n = 1);
  void skip_trivia();
  // Skips a `loc(...)` trailer (balanced parentheses, strings respected).
  void skip_location();

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1, column_ = 1;
};

}  // namespace kiln::mlir
