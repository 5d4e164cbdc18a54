#!/bin/sh
# SPDX-License-Identifier: MIT
# Every source file (C, assembly, shell, CMake) names its licence in its
# first lines, dist/mmu.h first of all. Exit 1 naming the files without.
set -eu
cd "$(dirname "$0")/.."
missing=0
for f in $(git ls-files -- '*.c' '*.h' '*.cpp' '*.S' '*.inc' '*.sh' \
             '*.cmake' '*.yaml' 'CMakeLists.txt' '*/CMakeLists.txt' .ci/run); do
  if ! head -n 3 -- "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
    echo "check_spdx: $f: no SPDX-License-Identifier line" >&2
    missing=1
  fi
done
head -n 1 dist/mmu.h | grep -q 'SPDX-License-Identifier: MIT' || {
  echo "check_spdx: dist/mmu.h: the SPDX line is not first" >&2
  missing=1
}
exit "$missing"
