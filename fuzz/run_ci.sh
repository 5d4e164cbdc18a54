#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz/run_ci.sh - the fuzz stage of tools/test.sh (fuzz/README.md).
#
# For every target fuzz/fuzz_<name>.c:
#  1. libFuzzer + ASan/UBSan: replay fuzz/corpus/<name> and
#     fuzz/regressions/<name>, then fuzz FUZZ_SECONDS (FUZZ_TOTAL, default
#     180, split over the targets) from those and the seeds make_seeds
#     writes from conformance/vectors;
#  2. libFuzzer + MSan: replay, then fuzz MSAN_SECONDS (MSAN_TOTAL, 30,
#     split);
#  3. AFL++ persistent mode (afl-clang-fast, ASan/UBSan): afl-fuzz for
#     AFL_SECONDS (AFL_TOTAL, 45, split) from fuzz/corpus/<name>;
#  4. the standalone reproducers built with gcc (ASan/UBSan) replay the
#     checked-in corpus, the regressions and everything steps 1-3 found.
# Two targets run at a time (FUZZ_JOBS). A crash fails the stage; its input
# is copied to fuzz/regressions/<name>/ with a .md note on how to
# reproduce it. Execs/s and totals go to build/fuzz-ci/summary.txt.
#
# usage: bash fuzz/run_ci.sh         (FUZZ_SECONDS=0 AFL_SECONDS=0: replay only)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

JOBS=${FUZZ_JOBS:-2}
work=$root/build/fuzz-ci
run=$work/run
rm -rf "$run"
mkdir -p "$run" "$work/corpus"

targets=()
for src in fuzz/fuzz_*.c; do
  t=${src#fuzz/fuzz_}
  targets+=("${t%.c}")
done

# Each engine's time is a budget for the stage, split evenly over the
# targets, so that a new target takes its share instead of adding minutes:
# FUZZ_TOTAL (default 180 target-seconds, the three original targets' 60 s
# each), MSAN_TOTAL (30), AFL_TOTAL (45). FUZZ_SECONDS, MSAN_SECONDS and
# AFL_SECONDS, when set, are per target as before (0: replay only).
FUZZ_TOTAL=${FUZZ_TOTAL:-180}
MSAN_TOTAL=${MSAN_TOTAL:-30}
AFL_TOTAL=${AFL_TOTAL:-45}
FUZZ_SECONDS=${FUZZ_SECONDS:-$((FUZZ_TOTAL / ${#targets[@]}))}
MSAN_SECONDS=${MSAN_SECONDS:-$((MSAN_TOTAL / ${#targets[@]}))}
AFL_SECONDS=${AFL_SECONDS:-$((AFL_TOTAL / ${#targets[@]}))}

failed=0
summary=()
note() { echo "run_ci: $*"; }

# cmake_build DIR C-COMPILER CXX-COMPILER ENGINE FLAGS
cmake_build() {
  local dir=$1 cc=$2 cxx=$3 engine=$4 flags=$5
  bash fuzz/cmake_build.sh "build/$dir" "$cc" "$cxx" "$engine" "$flags" \
    "$JOBS" >"$run/cmake-$dir.log" 2>&1 ||
    { note "build $dir FAILED (see $run/cmake-$dir.log)"; tail -30 "$run/cmake-$dir.log"; return 1; }
}

# keep_crash TARGET FILE HOW LOG: the input goes to fuzz/regressions.
keep_crash() {
  local t=$1 file=$2 how=$3 log=$4
  local sum dst
  sum=$(sha1sum "$file" | cut -c1-12)
  dst=fuzz/regressions/$t/$how-$sum
  mkdir -p "fuzz/regressions/$t"
  cp "$file" "$dst"
  {
    echo "# $how-$sum: found by fuzz/run_ci.sh ($how) on $(date -u +%Y-%m-%d)"
    echo
    echo "Reproduce (any compiler; ASan/UBSan as CI builds it):"
    echo
    echo "    cmake -S . -B build/fuzz-gcc -DCMAKE_C_COMPILER=gcc -DMMU_BUILD_TESTS=OFF \\"
    echo "      -DCMAKE_C_FLAGS='-g -fsanitize=address,undefined -fno-sanitize-recover=all'"
    echo "    cmake --build build/fuzz-gcc"
    echo "    FUZZ_TRACE=1 build/fuzz-gcc/fuzz/fuzz_${t}_repro $dst"
    echo
    echo "or with the libFuzzer build: build/fuzz-libfuzzer/fuzz/fuzz_$t $dst"
    echo
    echo "Report:"
    echo
    echo '```'
    grep -a -m1 -A40 -E 'FAILURE|ERROR: |runtime error|WARNING: MemorySanitizer|deadly signal' "$log" | head -60
    echo '```'
  } >"$dst.md"
  note "CRASH in $t ($how): input kept as $dst (see $dst.md)"
  failed=1
}

# run_parallel FUNCTION: FUNCTION target, JOBS at a time.
run_parallel() {
  local fn=$1 pids=() t
  for t in "${targets[@]}"; do
    "$fn" "$t" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$JOBS" ]; then
      wait "${pids[0]}"
      pids=("${pids[@]:1}")
    fi
  done
  wait
}

stat_of() { grep -a "stat::$2:" "$1" 2>/dev/null | awk '{print $2}' | tail -1; }

# ---- 1. libFuzzer + ASan/UBSan --------------------------------------------
san="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
cmake_build fuzz-libfuzzer clang clang++ libfuzzer "$san" || exit 1
lf=build/fuzz-libfuzzer/fuzz
rm -rf "$work/seeds"
"$lf/make_seeds" "$work/seeds" conformance/vectors/*.vec >"$run/seeds.log" 2>&1 ||
  { note "make_seeds failed"; cat "$run/seeds.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

libfuzzer_one() { # TARGET ENGINE-DIR SECONDS TAG
  local t=$1 dir=$2 secs=$3 tag=$4
  local bin=$dir/fuzz_$t out=$run/$tag-$t
  mkdir -p "$out" "$work/corpus/$t"
  "$bin" -runs=0 -artifact_prefix="$out/" fuzz/corpus/"$t" \
    fuzz/regressions/"$t" "$work/corpus/$t" >"$out/replay.log" 2>&1 || {
    local a
    a=$(ls "$out"/crash-* 2>/dev/null | head -1)
    [ -n "$a" ] || a=$(grep -a -o 'Running: [^ ]*' "$out/replay.log" | tail -1 | cut -d' ' -f2)
    echo "fail $a" >"$out/status"
    return
  }
  if [ "$secs" -gt 0 ]; then
    local dict=()
    [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 -artifact_prefix="$out/" "${dict[@]}" \
      "$work/corpus/$t" "$work/seeds/$t" fuzz/corpus/"$t" >"$out/fuzz.log" 2>&1 || {
      echo "fail $(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | head -1)" >"$out/status"
      return
    }
  fi
  echo ok >"$out/status"
}

lf_asan() { libfuzzer_one "$1" "$lf" "$FUZZ_SECONDS" libfuzzer; }
note "libFuzzer + ASan/UBSan: ${#targets[@]} targets, ${FUZZ_SECONDS}s each, $JOBS at a time"
run_parallel lf_asan

collect_libfuzzer() { # TAG LABEL
  local tag=$1 label=$2 t out st
  for t in "${targets[@]}"; do
    out=$run/$tag-$t
    st=$(cat "$out/status" 2>/dev/null || echo "fail")
    if [ "${st%% *}" != ok ]; then
      local input=${st#fail}
      input=${input# }
      local log=$out/fuzz.log
      [ -f "$log" ] || log=$out/replay.log
      if [ -n "$input" ] && [ -f "$input" ]; then
        keep_crash "$t" "$input" "$tag" "$log"
      else
        note "$t ($label) FAILED without an input (see $log)"
        tail -30 "$log"
        failed=1
      fi
    fi
    local execs eps
    execs=$(stat_of "$out/fuzz.log" number_of_executed_units)
    eps=$(stat_of "$out/fuzz.log" average_exec_per_sec)
    summary+=("$(printf '%-20s %-18s %10s execs %8s exec/s  %s' "$t" "$label" "${execs:-0}" "${eps:-0}" "${st%% *}")")
  done
}
collect_libfuzzer libfuzzer "libFuzzer+ASan"

# ---- 2. libFuzzer + MSan --------------------------------------------------------
msan="-O1 -g -fno-omit-frame-pointer -fsanitize=memory -fsanitize-memory-track-origins"
if cmake_build fuzz-msan clang clang++ libfuzzer "$msan"; then
  lf_msan() { libfuzzer_one "$1" build/fuzz-msan/fuzz "$MSAN_SECONDS" msan; }
  note "libFuzzer + MSan: ${MSAN_SECONDS}s each"
  run_parallel lf_msan
  collect_libfuzzer msan "libFuzzer+MSan"
else
  failed=1
fi

# ---- 3. AFL++ persistent mode ------------------------------------------------------
if command -v afl-clang-fast >/dev/null && command -v afl-fuzz >/dev/null; then
  if cmake_build fuzz-afl afl-clang-fast afl-clang-fast++ afl "$san"; then
    afl_one() {
      local t=$1 out=$work/afl/$1
      rm -rf "$out"
      mkdir -p "$out"
      [ "$AFL_SECONDS" -gt 0 ] || return 0
      local dict=()
      [ -f "fuzz/$t.dict" ] && dict=(-x "fuzz/$t.dict")
      AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
        AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=0 \
        ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0 \
        timeout $((AFL_SECONDS + 120)) afl-fuzz -V "$AFL_SECONDS" -m none -t 2000 \
        -i fuzz/corpus/"$t" -o "$out" "${dict[@]}" -- build/fuzz-afl/fuzz/fuzz_"${t}"_afl \
        >"$run/afl-$t.log" 2>&1
      echo $? >"$run/afl-$t.status"
    }
    note "AFL++: ${AFL_SECONDS}s each"
    run_parallel afl_one
    for t in "${targets[@]}"; do
      stats=$work/afl/$t/default/fuzzer_stats
      execs=$(awk -F: '/^execs_done/{gsub(/ /,"",$2); print $2}' "$stats" 2>/dev/null)
      eps=$(awk -F: '/^execs_per_sec/{gsub(/ /,"",$2); print $2}' "$stats" 2>/dev/null)
      st=ok
      if [ "$AFL_SECONDS" -gt 0 ] && [ ! -f "$stats" ]; then
        st=fail
        note "afl-fuzz did not run $t (see $run/afl-$t.log)"
        tail -20 "$run/afl-$t.log"
        failed=1
      fi
      for c in "$work/afl/$t"/default/crashes/id:*; do
        [ -f "$c" ] || continue
        st=crash
        # the report: run the input on the reproducer
        build/fuzz-afl/fuzz/fuzz_"${t}"_repro "$c" >"$run/afl-$t-crash.log" 2>&1
        keep_crash "$t" "$c" afl "$run/afl-$t-crash.log"
      done
      summary+=("$(printf '%-20s %-18s %10s execs %8s exec/s  %s' "$t" "AFL++ (persistent)" "${execs:-0}" "${eps:-0}" "$st")")
    done
  else
    failed=1
  fi
else
  note "AFL++ not installed (afl-clang-fast, afl-fuzz): skipped"
  summary+=("AFL++: not installed, skipped")
fi

# ---- 4. gcc: the standalone reproducers replay everything ---------------------------
if cmake_build fuzz-gcc gcc g++ none "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"; then
  for t in "${targets[@]}"; do
    dirs=(fuzz/corpus/"$t" fuzz/regressions/"$t" "$work/corpus/$t")
    [ -d "$work/afl/$t/default/queue" ] && dirs+=("$work/afl/$t/default/queue")
    log=$run/gcc-$t.log
    # space_sequence as deep as some of its regressions were found (300)
    if SM_MAX_OPS=300 FUZZ_VERBOSE=1 build/fuzz-gcc/fuzz/fuzz_"${t}"_repro "${dirs[@]}" >"$log" 2>&1; then
      n=$(grep -a -o 'standalone: [0-9]* inputs run' "$log" | awk '{print $2}')
      summary+=("$(printf '%-20s %-18s %10s inputs replayed  ok' "$t" "gcc standalone" "${n:-0}")")
    else
      input=$(grep -a 'standalone: running' "$log" | tail -1 | sed -E 's/standalone: running (.*) \([0-9]+ bytes\)/\1/')
      if [ -n "$input" ] && [ -f "$input" ]; then
        keep_crash "$t" "$input" gcc "$log"
      else
        note "gcc replay of $t FAILED (see $log)"
        tail -20 "$log"
        failed=1
      fi
      summary+=("$(printf '%-20s %-18s %10s' "$t" "gcc standalone" FAILED)")
    fi
  done
else
  failed=1
fi

# ---- summary --------------------------------------------------------------------------
{
  echo "fuzz stage: FUZZ_SECONDS=$FUZZ_SECONDS MSAN_SECONDS=$MSAN_SECONDS AFL_SECONDS=$AFL_SECONDS"
  for line in "${summary[@]}"; do echo "  $line"; done
  total=0
  for line in "${summary[@]}"; do
    n=$(awk '/ execs /{for(i=1;i<=NF;i++) if($(i+1)=="execs") print $i}' <<<"$line")
    total=$((total + ${n:-0}))
  done
  echo "  total executions: $total"
} | tee "$work/summary.txt"
if [ "$failed" -ne 0 ]; then
  note "FAILED: crashes are in fuzz/regressions/ (see the notes beside them)"
  exit 1
fi
note "ok"
exit 0
