#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz/grow.sh - grow the checked-in corpora: run each target under
# libFuzzer (ASan/UBSan) for a while from fuzz/corpus/<target>, then merge
# what it found back into fuzz/corpus/<target> (-set_cover_merge=1, the
# greedy set cover: about half the files plain -merge=1 keeps for the same
# features): only inputs that reach coverage the corpus lacks are added,
# the files already there stay (make_seeds' seeds keep their names). With
# --minimize the corpus is rebuilt instead as the smallest set the merge
# keeps of it and the run. Prints, per target, the executions, executions a second, and the
# files and coverage features before and after; review `git status
# fuzz/corpus` and commit. A crash stops the target: its input is kept in
# fuzz/regressions/<target>/ (add a note there, then fix the library).
#
# usage: bash fuzz/grow.sh [--minimize] [SECONDS] [TARGET...]
#        (SECONDS per target, default 600; targets: every fuzz/fuzz_*.c)
set -uo pipefail
cd "$(dirname "$0")/.."
minimize=0
if [ "${1:-}" = --minimize ]; then minimize=1; shift; fi
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi

build=build/fuzz-grow
san="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
bash fuzz/cmake_build.sh "$build" clang clang++ libfuzzer "$san" >/dev/null 2>&1 ||
  { echo "grow: build failed (cmake --build $build)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
# features libFuzzer counts over a directory (its INITED line's ft:)
features() { "$1" -runs=0 "$2" 2>&1 | sed -nE 's/.*INITED.* ft: ([0-9]+).*/\1/p' | tail -1; }
for t in "${targets[@]}"; do
  bin=$build/fuzz/fuzz_$t
  corpus=fuzz/corpus/$t
  [ -x "$bin" ] || { echo "grow: no target $t" >&2; status=1; continue; }
  mkdir -p "$corpus" "fuzz/regressions/$t" "$work/$t/run" "$work/$t/new"
  dict=(); [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  files_before=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  ft_before=$(features "$bin" "$corpus")
  # the run: new inputs land in run/, the corpus is read only
  "$bin" "${dict[@]}" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="fuzz/regressions/$t/" "$work/$t/run" "$corpus" \
    >"$work/$t/log" 2>&1
  rc=$?
  execs=$(grep -a 'stat::number_of_executed_units:' "$work/$t/log" | awk '{print $2}')
  eps=$(grep -a 'stat::average_exec_per_sec:' "$work/$t/log" | awk '{print $2}')
  if [ $rc -ne 0 ]; then
    echo "grow: $t FAILED after ${execs:-?} executions; the input is in fuzz/regressions/$t/:" >&2
    grep -a -A12 'mmu fuzz: FAILURE\|ERROR: ' "$work/$t/log" | head -20 >&2
    status=1
    continue
  fi
  if [ $minimize = 1 ]; then
    "$bin" -set_cover_merge=1 "$work/$t/new" "$corpus" "$work/$t/run" >"$work/$t/merge" 2>&1
    find "$corpus" -maxdepth 1 -type f ! -name 'README*' -delete
  else # the corpus first: only what adds to it is kept from the run
    cp "$corpus"/* "$work/$t/new"/ 2>/dev/null
    "$bin" -set_cover_merge=1 "$work/$t/new" "$work/$t/run" >"$work/$t/merge" 2>&1
  fi
  cp -n "$work/$t/new"/* "$corpus"/ 2>/dev/null
  files_after=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  ft_after=$(features "$bin" "$corpus")
  printf 'grow: %-18s %10s execs %7s exec/s  files %5s -> %-5s features %6s -> %s\n' \
    "$t" "${execs:-0}" "${eps:-0}" "$files_before" "$files_after" \
    "${ft_before:-?}" "${ft_after:-?}"
done
exit $status
