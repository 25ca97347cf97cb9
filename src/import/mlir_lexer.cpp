#include "import/mlir_lexer.hpp"

#include <cctype>

namespace kiln::mlir {
namespace {

bool is_ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '.';
}
// MLIR's suffix-id characters (`%cst_0`, `%arg0`, `%0`, `%x-1`).
bool is_suffix_char(char c) {
  return is_ident_char(c) || c == '-';
}
bool is_digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

}  // namespace

void Lexer::advance(size_t n) {
  for (size_t i = 0; i < n && pos_ < src_.size(); ++i) {
    if (src_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }
}

void Lexer::skip_trivia() {
  for (;;) {
    const char c = peek();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      advance();
    } else if (c == '/' && peek(1) == '/') {
      while (pos_ < src_.size() && peek() != '\n') advance();
    } else if (c == 'l' && src_.substr(pos_, 4) == "loc(" &&
               (pos_ == 0 || !is_suffix_char(src_[pos_ - 1]))) {
      skip_location();
    } else {
      return;
    }
  }
}

void Lexer::skip_location() {
  advance(3);  // "loc"; the loop below consumes the parentheses
  int depth = 0;
  while (pos_ < src_.size()) {
    const char c = peek();
    if (c == '"') {
      advance();
      while (pos_ < src_.size() && peek() != '"') advance(peek() == '\\' ? 2 : 1);
      advance();
      continue;
    }
    advance();
    if (c == '(') ++depth;
    if (c == ')' && --depth == 0) return;
  }
}

Token Lexer::next() {
  skip_trivia();
  Token t;
  t.line = line_;
  t.column = column_;
  const size_t start = pos_;
  auto finish = [&](Tok kind, size_t n) {
    advance(n);
    t.kind = kind;
    t.text = src_.substr(start, pos_ - start);
    return t;
  };
  if (pos_ >= src_.size()) return finish(Tok::end, 0);
  const char c = peek();
  auto run = [&](size_t from, auto pred) {
    size_t k = from;
    while (pos_ + k < src_.size() && pred(src_[pos_ + k])) ++k;
    return k;
  };
  switch (c) {
    case '(':
      return finish(Tok::lparen, 1);
    case ')':
      return finish(Tok::rparen, 1);
    case '[':
      return finish(Tok::lbracket, 1);
    case ']':
      return finish(Tok::rbracket, 1);
    case '{':
      return finish(Tok::lbrace, 1);
    case '}':
      return finish(Tok::rbrace, 1);
    case '<':
      return finish(Tok::langle, 1);
    case '>':
      return finish(Tok::rangle, 1);
    case ',':
      return finish(Tok::comma, 1);
    case ':':
      return finish(Tok::colon, 1);
    case '=':
      return finish(Tok::equal, 1);
    case '?':
      return finish(Tok::question, 1);
    case '"': {
      size_t k = 1;
      while (pos_ + k < src_.size() && src_[pos_ + k] != '"' && src_[pos_ + k] != '\n')
        k += src_[pos_ + k] == '\\' ? 2 : 1;
      if (pos_ + k >= src_.size() || src_[pos_ + k] != '"') return finish(Tok::other, 1);
      t = finish(Tok::string, k + 1);
      t.text = t.text.substr(1, t.text.size() - 2);
      return t;
    }
    case '%': {
      size_t k = run(1, is_suffix_char);
      if (k == 1) return finish(Tok::other, 1);
      if (peek(k) == '#' && is_digit(peek(k + 1))) k = run(k + 1, is_digit);
      return finish(Tok::value, k);
    }
    case '@': {
      if (peek(1) == '"') {  // @"quoted name"
        size_t k = 2;
        while (pos_ + k < src_.size() && src_[pos_ + k] != '"') ++k;
        return finish(Tok::symbol, k + 1);
      }
      const size_t k = run(1, is_suffix_char);
      return k == 1 ? finish(Tok::other, 1) : finish(Tok::symbol, k);
    }
    case '#':
      return finish(Tok::hash, run(1, is_suffix_char));
    case '^':
      return finish(Tok::block, run(1, is_suffix_char));
    default:
      break;
  }
  if (c == '-' && peek(1) == '>') return finish(Tok::arrow, 2);
  if (is_digit(c) || ((c == '-' || c == '+') && is_digit(peek(1)))) {
    size_t k = (c == '-' || c == '+') ? 1 : 0;
    if (peek(k) == '0' && (peek(k + 1) == 'x' || peek(k + 1) == 'X') &&
        std::isxdigit(static_cast<unsigned char>(peek(k + 2)))) {
      return finish(Tok::integer, run(k + 2, [](char h) {
                      return std::isxdigit(static_cast<unsigned char>(h));
                    }));
    }
    k = run(k, is_digit);
    bool is_float = false;
    if (peek(k) == '.') {
      is_float = true;
      k = run(k + 1, is_digit);
    }
    if ((peek(k) == 'e' || peek(k) == 'E') &&
        (is_digit(peek(k + 1)) ||
         ((peek(k + 1) == '-' || peek(k + 1) == '+') && is_digit(peek(k + 2))))) {
      is_float = true;
      k = run(k + 2, is_digit);
    }
    return finish(is_float ? Tok::floating : Tok::integer, k);
  }
  if (is_ident_start(c)) {
    const size_t k = run(1, is_ident_char);
    if (src_.substr(pos_, k) == "tensor" && peek(k) == '<') {
      size_t end = k + 1;
      int depth = 1;
      while (pos_ + end < src_.size() && depth > 0 && src_[pos_ + end] != '\n') {
        const char d = src_[pos_ + end];
        if (d == '<') ++depth;
        if (d == '>' && src_[pos_ + end - 1] != '-') --depth;
        ++end;
      }
      return depth == 0 ? finish(Tok::tensor, end) : finish(Tok::other, k);
    }
    return finish(Tok::ident, k);
  }
  return finish(Tok::other, 1);
}

}  // namespace kiln::mlir
