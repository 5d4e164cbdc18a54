#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (Debian 12) and runs the whole test suite: configure, build and
# ctest for the presets release (gcc), clang and asan (clang + ASan/UBSan).
# Stops at the first failure with a non-zero exit.
#
# Then the fuzz stage, fuzz/run_ci.sh: every fuzz target under libFuzzer
# (ASan/UBSan, MSan) and AFL++ for a bounded time, and the reproducers built
# with gcc replaying the corpora (FUZZ_TOTAL seconds, default 180, split
# over the targets; FUZZ_SECONDS sets a time per target instead).
#
# usage: bash tools/test.sh [PRESET...] [fuzz]
#        (default: release clang asan asan-gcc fuzz; MMU_SKIP_FUZZ=1 skips it)
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
mmu_install_deps || { echo "test.sh: could not install dependencies" >&2; exit 1; }

presets=()
fuzz_stage=0
for arg in "$@"; do
  if [ "$arg" = fuzz ]; then fuzz_stage=1; else presets+=("$arg"); fi
done
if [ $# -eq 0 ]; then
  presets=(release clang asan asan-gcc)
  fuzz_stage=1
fi
[ "${MMU_SKIP_FUZZ:-0}" = 1 ] && fuzz_stage=0
jobs=2
logdir=build/logs
mkdir -p "$logdir"

total_pass=0
total_fail=0
total_skip=0
summary=()

finish() {
  echo
  echo "==== summary ===="
  for line in "${summary[@]}"; do echo "  $line"; done
  echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
}

# What a preset's run skipped: ctest's skipped tests (a source absent, as
# "29 - conformance_recapture_kvm (Skipped)") and Criterion tests skipped
# inside a binary ("[SKIP] suite::test: reason" in ctest's full log).
# Prints "count|names".
skipped_of() {
  local log=$1 full=$2 names
  names=$( { sed -nE 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(Skipped\)$/\1/p' "$log"
             [ -f "$full" ] && sed -nE 's/^\[SKIP\] ([^:]+::[^:]+).*/\1/p' "$full"
           } | sort -u)
  if [ -z "$names" ]; then echo "0|"; return; fi
  echo "$(wc -l <<<"$names" | tr -d ' ')|$(tr '\n' ' ' <<<"$names" | sed 's/ $//')"
}

for p in "${presets[@]}"; do
  echo "==== [$p] configure ===="
  if ! cmake --preset "$p"; then
    summary+=("$p: configure FAILED"); finish; exit 1
  fi
  echo "==== [$p] build ===="
  if ! cmake --build --preset "$p" -j"$jobs"; then
    summary+=("$p: build FAILED"); finish; exit 1
  fi
  echo "==== [$p] test ===="
  log=$logdir/ctest-$p.log
  ctest --preset "$p" -j"$jobs" --output-on-failure 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # "100% tests passed, 0 tests failed out of 12"
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1)
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  outof=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  skip=$(skipped_of "$log" "build/$p/Testing/Temporary/LastTest.log")
  nskip=${skip%%|*}
  # ctest counts its skipped tests among those out of N; Criterion's are
  # tests of a binary that ctest counts once
  ctest_skips=$(grep -cE '^[[:space:]]*[0-9]+ - [^ ]+ \(Skipped\)$' "$log")
  if [ -n "$line" ]; then
    total_pass=$((total_pass + outof - failed - ctest_skips))
    total_fail=$((total_fail + failed))
  fi
  total_skip=$((total_skip + nskip))
  [ "$nskip" -gt 0 ] && line="$line; $nskip skipped: ${skip#*|}"
  if [ "$rc" -ne 0 ]; then
    [ -n "$line" ] || total_fail=$((total_fail + 1))
    summary+=("$p: tests FAILED (${line:-ctest exit $rc})")
    finish; exit 1
  fi
  summary+=("$p: ok (${line})")
done
if [ "$fuzz_stage" = 1 ]; then
  echo "==== [fuzz] fuzz/run_ci.sh ===="
  if ! bash fuzz/run_ci.sh 2>&1 | tee "$logdir/fuzz.log"; then
    summary+=("fuzz: FAILED (inputs kept in fuzz/regressions/, see $logdir/fuzz.log)")
    finish; exit 1
  fi
  summary+=("fuzz: ok ($(grep -m1 'total executions' "$logdir/fuzz.log" | sed 's/^ *//'))")
fi
finish
exit 0
