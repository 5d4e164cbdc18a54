#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (Debian 12), builds the release preset and runs the demo: the main
# job, a tour of the MMU plus the benchmark ratios. Arguments go to mmu_demo.
#
# usage: bash tools/demo.sh [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
mmu_install_deps
cmake --preset release
cmake --build --preset release -j2
if [ ! -x build/release/examples/mmu_demo ]; then
  echo "demo.sh: build/release/examples/mmu_demo was not built (examples/demo.c missing?)" >&2
  exit 1
fi
exec build/release/examples/mmu_demo "$@"
