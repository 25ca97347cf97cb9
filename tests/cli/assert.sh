# Shared by the CLI tests that stop at the first failure: `fail` and `expect_error`. Source it after
# setting `work` (a scratch directory the caller removes).

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_error "what it must say" command...: fails unless the command exits non-zero saying it on
# stderr.
expect_error() {
  local want=$1
  shift
  if "$@" >"$work/out.txt" 2>"$work/err.txt"; then fail "succeeded: $*"; fi
  grep -qF -- "$want" "$work/err.txt" || fail "$* said $(cat "$work/err.txt"), expected: $want"
}
