# SPDX-License-Identifier: MIT
# tools/deps.sh - sourced by tools/test.sh and tools/demo.sh.
# Installs what building and testing mmu needs on Debian 12. apt runs only
# when a package is missing (needs root, or sudo). time: test_report holds
# mmu_format_time_v to /usr/bin/time -v; qemu-system-x86: the QEMU
# re-capture of conformance/vectors/qemu.vec (KVM needs /dev/kvm, which no
# package brings: without it that re-capture is reported skipped); bochs,
# bochsbios, vgabios: the Bochs re-capture of conformance/vectors/bochs*.vec
# (bochs depends on 'vgabios | seabios', and QEMU's seabios satisfies it,
# but Bochs itself loads vgabios's ROM).
# valgrind: bench_icount counts instructions per translation under callgrind.

MMU_DEPS="build-essential cmake clang pkg-config libcriterion-dev libxxhash-dev git binutils libclang-rt-14-dev afl++ zip xz-utils time qemu-system-x86 bochs bochsbios vgabios valgrind"

mmu_install_deps() {
  missing=""
  if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in $MMU_DEPS; do
      if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $pkg"
      fi
    done
  else
    for cmd in cc c++ clang cmake pkg-config nm git; do
      command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
    done
    if [ -n "$missing" ]; then
      echo "deps: missing$missing and no dpkg here: install them by hand" >&2
      return 1
    fi
  fi
  if [ -z "$missing" ]; then
    echo "deps: all present ($MMU_DEPS)"
    return 0
  fi
  echo "deps: installing, missing:$missing"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "deps: not root and no sudo: install$missing by hand" >&2
      return 1
    fi
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y \
      --no-install-recommends $MMU_DEPS
}
