#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the QEMU TCG capture source's self-test by hand:
#   sh conformance/capture/build_qemu.sh [output]  (default: build/qemu_selftest)
# The guest (qguest/qharness.S) is assembled into the host program's
# .rodata and copied into guest RAM at run time: no objcopy, no linker
# script. guest.c, departures.c and selftest.c are what every source
# shares (source.h). booted.c (what qemu.c shares with bochs.c) carries its own static copy of the library
# (MMU_STATIC) for predictions; the self-test links the library (mmu/mmu.c) and the
# vector checker to compare what QEMU did with what the library does.
# Needs: gcc (or $CC), GNU as, and at run time qemu-system-x86_64
# (Debian package qemu-system-x86).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root="$here/../.."
out=${1:-"$root/build/qemu_selftest"}
mkdir -p "$(dirname "$out")"
CC=${CC:-gcc}
CFLAGS=${CFLAGS:-"-O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror"}
$CC -std=c11 $CFLAGS -I"$here/qguest" -I"$root/include" -I"$root/conformance" \
  "$here/guest.c" "$here/departures.c" "$here/selftest.c" "$here/booted.c" "$here/qemu.c" \
  "$here/qemu_selftest.c" "$here/qguest/qharness.S" \
  "$root/conformance/vector.c" "$root/conformance/check.c" "$root/mmu/mmu.c" \
  -o "$out"
echo "built $out"
