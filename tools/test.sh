#!/usr/bin/env bash
# Sets up (Debian 12) and runs the whole test suite: configure, build and
# ctest for the presets release (gcc), clang and asan (clang + ASan/UBSan).
# Stops at the first failure with a non-zero exit.
#
# usage: bash tools/test.sh [PRESET...]     (default: release clang asan)
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
mmu_install_deps || { echo "test.sh: could not install dependencies" >&2; exit 1; }

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release clang asan asan-gcc)
jobs=2
logdir=build/logs
mkdir -p "$logdir"

total_pass=0
total_fail=0
summary=()

finish() {
  echo
  echo "==== summary ===="
  for line in "${summary[@]}"; do echo "  $line"; done
  echo "tests: $total_pass passed, $total_fail failed"
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
  if [ -n "$line" ]; then
    total_pass=$((total_pass + outof - failed))
    total_fail=$((total_fail + failed))
  fi
  if [ "$rc" -ne 0 ]; then
    [ -n "$line" ] || total_fail=$((total_fail + 1))
    summary+=("$p: tests FAILED (${line:-ctest exit $rc})")
    finish; exit 1
  fi
  summary+=("$p: ok (${line})")
done
finish
exit 0
