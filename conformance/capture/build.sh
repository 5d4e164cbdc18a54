#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the KVM capture source's self-test by hand:
#   sh conformance/capture/build.sh [output]   (default: build/kvm_selftest)
# The guest (kguest/kharness.S, with the step library in guest/) is
# assembled into the host program's .rodata and copied into guest RAM at
# run time: no objcopy or flat binary needed. guest.c, departures.c and
# selftest.c are what every source shares (source.h).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root="$here/../.."
out=${1:-"$root/build/kvm_selftest"}
mkdir -p "$(dirname "$out")"
CC=${CC:-gcc}
CFLAGS=${CFLAGS:-"-O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror"}
$CC -std=c11 $CFLAGS -I"$here/kguest" -I"$root/include" -I"$root/conformance" \
  "$here/guest.c" "$here/departures.c" "$here/selftest.c" "$here/kvm.c" \
  "$here/kvm_selftest.c" "$here/kguest/kharness.S" \
  "$root/conformance/vector.c" -o "$out"
echo "built $out"
