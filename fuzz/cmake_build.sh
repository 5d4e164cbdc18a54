#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz/cmake_build.sh DIR CC CXX ENGINE FLAGS [JOBS]: configure and build
# the fuzz targets alone (no tests, benchmarks or examples) in DIR with
# compiler CC/CXX, MMU_FUZZ_ENGINE=ENGINE (none, libfuzzer, afl) and FLAGS
# for compiling and linking. Output goes to stdout; the exit status is
# cmake's. Used by run_ci.sh, grow.sh and coverage.sh.
set -uo pipefail
dir=$1 cc=$2 cxx=$3 engine=$4 flags=$5 jobs=${6:-2}
cmake -S "$(dirname "$0")/.." -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DMMU_BUILD_TESTS=OFF -DMMU_BUILD_BENCH=OFF -DMMU_BUILD_EXAMPLES=OFF \
  -DMMU_BUILD_FUZZ=ON -DMMU_FUZZ_ENGINE="$engine" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" && cmake --build "$dir" -j"$jobs"
