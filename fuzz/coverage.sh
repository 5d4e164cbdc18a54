#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz/coverage.sh - how much of the library a corpus reaches: each
# target's reproducer, built with clang's source-based coverage, replays
# fuzz/corpus/<target>, fuzz/regressions/<target> and any directories
# given (their <target>/ subdirectory, or the directory itself when one
# target is named), and llvm-cov reports the lines and branches of the
# library (mmu/*.c and include/mmu.h, the reference walker included) that
# ran (for cli_parsers cli/parse.c, for cli_walk cli/walk.c, for
# vector_parser conformance/). libFuzzer's cov/ft
# counts depend on which code is instrumented and how; these do not, so
# they compare corpora across builds and sessions (fuzz/README.md, the
# campaign log).
#
# usage: bash fuzz/coverage.sh [-t TARGET]... [DIR...]
#        (default: every fuzz/fuzz_*.c target)
set -uo pipefail
cd "$(dirname "$0")/.."
targets=()
while [ "${1:-}" = -t ]; do targets+=("$2"); shift 2; done
extra=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
ver=$(clang --version | sed -nE 's/.*clang version ([0-9]+).*/\1/p' | head -1)
cov=llvm-cov profdata=llvm-profdata
command -v "llvm-cov-$ver" >/dev/null && cov=llvm-cov-$ver profdata=llvm-profdata-$ver
command -v "$cov" >/dev/null && command -v "$profdata" >/dev/null ||
  { echo "coverage: needs $cov and $profdata (package llvm)" >&2; exit 1; }

build=build/fuzz-cov
flags="-O1 -g -fprofile-instr-generate -fcoverage-mapping"
bash fuzz/cmake_build.sh "$build" clang clang++ none "$flags" >/dev/null 2>&1 ||
  { echo "coverage: build failed (cmake --build $build)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
printf '%-18s %7s  %-22s %-22s\n' target inputs "lines under test" "branches under test"
for t in "${targets[@]}"; do
  bin=$build/fuzz/fuzz_${t}_repro
  [ -x "$bin" ] || { echo "coverage: no target $t" >&2; status=1; continue; }
  dirs=()
  for d in "fuzz/corpus/$t" "fuzz/regressions/$t"; do [ -d "$d" ] && dirs+=("$d"); done
  for d in "${extra[@]}"; do
    if [ -d "$d/$t" ]; then dirs+=("$d/$t")
    elif [ ${#targets[@]} -eq 1 ] && [ -d "$d" ]; then dirs+=("$d"); fi
  done
  LLVM_PROFILE_FILE="$work/$t.profraw" "$bin" "${dirs[@]}" >"$work/$t.log" 2>&1 ||
    { echo "coverage: $t: an input fails (see the reproducer on ${dirs[*]})" >&2
      tail -5 "$work/$t.log" >&2; status=1; continue; }
  n=$(sed -nE 's/^standalone: ([0-9]+) inputs run.*/\1/p' "$work/$t.log")
  "$profdata" merge -sparse "$work/$t.profraw" -o "$work/$t.profdata"
  # the TOTAL row over the library's files: regions, functions, lines, branches
  case $t in # the code under test
  cli_parsers) src=("$PWD/cli/parse.c") ;;
  cli_walk) src=("$PWD/cli/walk.c") ;;
  vector_parser) src=("$PWD/conformance/vector.c" "$PWD/conformance/check.c") ;;
  *) mapfile -t src < <(find "$PWD/mmu" -name '*.c' | sort)
     src+=("$PWD/include/mmu.h") ;;
  esac
  row=$("$cov" report "$bin" -instr-profile="$work/$t.profdata" "${src[@]}" \
    2>/dev/null | grep '^TOTAL')
  read -r _ _ _ _ _ _ _ lines lmiss lpct _ _ _ <<<"$row"
  read -r -a f <<<"$row"
  bpct=${f[-1]} bmiss=${f[-2]} bran=${f[-3]}
  printf '%-18s %7s  %6s of %-6s %7s  %6s of %-6s %7s\n' "$t" "${n:-?}" \
    "$((lines - lmiss))" "$lines" "$lpct" "$((bran - bmiss))" "$bran" "$bpct"
done
exit $status
