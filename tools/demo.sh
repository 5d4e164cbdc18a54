#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (Debian 12), builds the release preset and runs the demo: the main
# job, a tour of the MMU plus the benchmark ratios, then `mmu trace` on a
# recorded trace of /bin/true. Arguments go to mmu_demo.
#
# usage: bash tools/demo.sh [ARGS...]
set -euo pipefail
case "${1:-}" in
  -h|--help)
    cat <<'USAGE'
usage: bash tools/demo.sh [--quick] [--no-bench]

The main job, on a fresh Debian 12 machine as root: installs the build
dependencies (apt-get), builds the release preset, then runs
build/release/examples/mmu_demo, a tour of the MMU and its OS side whose
every printed outcome is checked, and the benchmark ratios against
baselines run side by side; then `mmu trace` replays /bin/true's recorded
memory references (tests/cli/true.lackey.xz) through 128 KiB of RAM and
prints time -v, perf stat, vmstat and Belady's OPT.
  --quick     shorter benchmark runs (mmu_demo)
  --no-bench  no benchmark (mmu_demo)
Exit status: 0 ok, 1 an outcome or a build step failed, 2 bad usage.
USAGE
    exit 0 ;;
esac
cd "$(dirname "$0")/.."
. tools/deps.sh
mmu_install_deps
cmake --preset release
cmake --build --preset release -j2
if [ ! -x build/release/examples/mmu_demo ]; then
  echo "demo.sh: build/release/examples/mmu_demo was not built (examples/demo.c missing?)" >&2
  exit 1
fi
build/release/examples/mmu_demo "$@"
# Then the mmu command on a real program: /bin/true's memory references
# (valgrind lackey, tests/cli/README.md) through a 64x4 TLB, 128 KiB of
# RAM and swap, with the reports of time -v, perf stat and vmstat, and
# Belady's OPT for the same references.
echo
echo "==== mmu trace: /bin/true under valgrind lackey, 128 KiB of RAM ===="
echo "\$ xz -dc tests/cli/true.lackey.xz | mmu trace --ram 128K --interval 40000 -"
xz -dc tests/cli/true.lackey.xz |
  build/release/cli/mmu trace --ram 128K --interval 40000 -
