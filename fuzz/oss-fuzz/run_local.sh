#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz/oss-fuzz/run_local.sh - run fuzz/oss-fuzz/build.sh here the way
# OSS-Fuzz does (its base-builder image: clang, ASan, libFuzzer), then run
# every fuzzer it built for a few seconds on its seed corpus with its
# dictionary, as OSS-Fuzz's check_build does. Exit 0 when all is well.
#
# usage: bash fuzz/oss-fuzz/run_local.sh [SECONDS]   (default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
secs=${1:-5}

# $SRC holds the checkout as $SRC/mmu (the Dockerfile clones it there);
# here that is a link to this checkout, whatever its directory is called.
SRC=$(mktemp -d)
ln -s "$repo" "$SRC/mmu"
OUT=$(mktemp -d)
WORK=$(mktemp -d)
trap 'rm -rf "$SRC" "$OUT" "$WORK"' EXIT
export SRC OUT WORK
export CC=clang CXX=clang++
export SANITIZER_FLAGS="-fsanitize=address -fsanitize-address-use-after-scope"
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only $SANITIZER_FLAGS -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"

echo "run_local: build.sh with SRC=$SRC OUT=$OUT"
bash "$here/build.sh"

status=0
count=0
for f in "$OUT"/fuzz_*; do
  [ -x "$f" ] && [ -f "$f" ] || continue
  name=$(basename "$f")
  count=$((count + 1))
  for need in "$OUT/$name.dict" "$OUT/${name}_seed_corpus.zip"; do
    [ -f "$need" ] || { echo "run_local: $name: missing $(basename "$need")"; status=1; }
  done
  corpus=$WORK/corpus-$name
  mkdir -p "$corpus"
  unzip -q -o "$OUT/${name}_seed_corpus.zip" -d "$corpus"
  log=$WORK/$name.log
  if "$f" -max_total_time="$secs" -dict="$OUT/$name.dict" -print_final_stats=1 \
    "$corpus" >"$log" 2>&1; then
    eps=$(grep -a 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
    echo "run_local: $name ok ($(ls "$corpus" | wc -l) corpus files, ${eps:-?} exec/s)"
  else
    echo "run_local: $name FAILED"
    tail -40 "$log"
    status=1
  fi
done
[ "$count" -gt 0 ] || { echo "run_local: build.sh produced no fuzzers"; status=1; }
exit $status
