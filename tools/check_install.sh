#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs mmu and builds the embedder tests/install_consumer against it
# four ways, running each build:
#   a. find_package(mmu CONFIG) on a static install;
#   b. find_package on a shared install (BUILD_SHARED_LIBS), which the
#      program must load libmmu.so from;
#   c. pkg-config and plain cc on the static install;
#   d. add_subdirectory() from a C-only project with no C++ compiler.
# Also checks the installed files (header = dist/mmu.h, CMake package,
# mmu.pc, bin/mmu --version, the man page) and that a shared libmmu exports
# exactly the header's API. Exits non-zero at the first thing missing.
#
# usage: tools/check_install.sh SOURCE_DIR WORK_DIR VERSION C_COMPILER
#                               [CMAKE [GENERATOR]]
# WORK_DIR is emptied first and removed when every check passes (kept, with
# the logs, when one fails).
set -eu
[ "$#" -ge 4 ] || {
  echo "usage: $0 SOURCE_DIR WORK_DIR VERSION C_COMPILER [CMAKE [GENERATOR]]" >&2
  exit 2
}
src=$(cd "$1" && pwd)
work=$2
version=$3
cc=$4
cmake=${5:-cmake}
generator=${6:-}
# The environment must not change what is built: only our arguments count.
unset CFLAGS CXXFLAGS CPPFLAGS LDFLAGS CMAKE_PREFIX_PATH PKG_CONFIG_PATH \
  CMAKE_BUILD_PARALLEL_LEVEL MAKEFLAGS

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
log=$work/log
consumer_src=$src/tests/install_consumer
# What tests/install_consumer/main.c prints when the translation is right.
want_line="mmu $version: 0x7f1234567abc -> 0x20abc"

fail() {
  echo "check_install: FAILED: $*" >&2
  if [ -s "$log" ]; then
    echo "---- last output ($log) ----" >&2
    tail -n 40 "$log" >&2
  fi
  echo "check_install: work files kept in $work" >&2
  exit 1
}
step() { # step WHAT COMMAND...: runs COMMAND, its output into $log
  what=$1
  shift
  echo "check_install: $what"
  "$@" >"$log" 2>&1 || fail "$what"
}
# Release, our compiler, no C++ compiler (the project and the consumer
# are C), no flags from the caller's build (sanitizers included).
configure() { # configure BUILD_DIR SOURCE_DIR CMAKE_ARGS...
  cfg_build=$1 cfg_source=$2
  shift 2
  set -- -S "$cfg_source" -B "$cfg_build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER=/nonexistent "$@"
  if [ -n "$generator" ]; then set -- -G "$generator" "$@"; fi
  "$cmake" "$@"
}
build() { "$cmake" --build "$1" --config Release -j2; }
need_file() { [ -f "$1" ] || fail "not installed: $1"; }
run_consumer() { # run_consumer WHAT PROGRAM
  step "$1: run" "$2"
  grep -qxF "$want_line" "$log" || fail "$1: printed $(cat "$log"), want $want_line"
  echo "check_install: $1: $(cat "$log")"
}

# Builds and installs the project (no tests, benches, examples or fuzz
# targets; the command and MMU_INSTALL as a top-level project has them).
install_mmu() { # install_mmu NAME CMAKE_ARGS...
  name=$1
  shift
  step "$name: configure mmu" configure "$work/$name-build" "$src" \
    -DMMU_BUILD_TESTS=OFF -DMMU_BUILD_BENCH=OFF -DMMU_BUILD_EXAMPLES=OFF \
    -DMMU_BUILD_FUZZ=OFF -DCMAKE_INSTALL_LIBDIR=lib "$@"
  step "$name: build mmu" build "$work/$name-build"
  # --prefix at install time: the CMake package and mmu.pc must follow it.
  step "$name: install mmu" "$cmake" --install "$work/$name-build" \
    --config Release --prefix "$work/$name"
  p=$work/$name
  need_file "$p/include/mmu.h"
  cmp -s "$p/include/mmu.h" "$src/dist/mmu.h" ||
    fail "$name: include/mmu.h is not dist/mmu.h"
  for f in mmuConfig.cmake mmuConfigVersion.cmake mmuTargets.cmake; do
    need_file "$p/lib/cmake/mmu/$f"
  done
  need_file "$p/lib/pkgconfig/mmu.pc"
  need_file "$p/share/man/man1/mmu.1"
  need_file "$p/bin/mmu"
  step "$name: bin/mmu --version" "$p/bin/mmu" --version
  [ "$(cat "$log")" = "mmu $version" ] ||
    fail "$name: bin/mmu --version printed '$(cat "$log")', want 'mmu $version'"
}

# Configures and builds tests/install_consumer against prefix $2 through
# find_package, checking that it found that prefix's package.
package_consumer() { # package_consumer NAME PREFIX
  step "$1: configure consumer (find_package)" \
    configure "$work/$1-consumer" "$consumer_src" -DCMAKE_PREFIX_PATH="$2" \
    -DMMU_WANT_VERSION="${version%.*}"
  grep -qF "mmu $version from $2/lib/cmake/mmu, includes $2/include" "$log" ||
    fail "$1: find_package did not find mmu $version in $2"
  step "$1: build consumer" build "$work/$1-consumer"
}

# --- a. find_package, static ----------------------------------------------
install_mmu static
s=$work/static
need_file "$s/lib/libmmu.a"
if ls "$s"/lib/libmmu.so* >/dev/null 2>&1; then fail "static: a libmmu.so"; fi
package_consumer static "$s"
nm "$work/static-consumer/mmu" | grep -q ' T mmu_init_versioned$' ||
  fail "static: the consumer does not hold the library"
run_consumer "a. find_package, static" "$work/static-consumer/mmu"
# SameMinorVersion: a 0.x release does not satisfy another minor.
echo "check_install: static: find_package(mmu 0.1) must fail"
if configure "$work/static-wrong" "$consumer_src" -DCMAKE_PREFIX_PATH="$s" \
  -DMMU_WANT_VERSION=0.1 >"$log" 2>&1; then
  fail "static: find_package(mmu 0.1) accepted mmu $version"
fi
grep -qF "$s/lib/cmake/mmu/mmuConfig.cmake, version: $version" "$log" ||
  fail "static: find_package(mmu 0.1) failed, but not on the version"

# --- b. find_package, shared ----------------------------------------------
install_mmu shared -DBUILD_SHARED_LIBS=ON
s=$work/shared
soname=libmmu.so.$(echo "$version" | cut -d. -f1-2)
need_file "$s/lib/libmmu.so.$version"
need_file "$s/lib/$soname"
need_file "$s/lib/libmmu.so"
[ ! -e "$s/lib/libmmu.a" ] || fail "shared: a libmmu.a"
# Exported: every function the header declares MMU_API, and nothing else.
grep -o '^MMU_API [^(]*(' "$s/include/mmu.h" |
  sed 's/.*[ *]\([A-Za-z_0-9]*\)($/\1/' | sort -u >"$work/api"
nm -D --defined-only "$s/lib/libmmu.so" | awk '$2 == "T" { print $3 }' |
  sort -u >"$work/exported"
[ -s "$work/api" ] || fail "shared: no MMU_API declaration in include/mmu.h"
diff "$work/api" "$work/exported" >"$log" ||
  fail "shared: libmmu.so exports other than the header's API (< API, > exported)"
echo "check_install: shared: libmmu.so exports the $(wc -l <"$work/api") API functions"
# loads_prefix_lib PROGRAM: the dynamic loader resolves $soname to the
# prefix's (through an rpath, perhaps $ORIGIN/../lib).
loads_prefix_lib() {
  ldd "$1" >"$log" 2>&1 || return 1
  loaded=$(awk -v so="$soname" '$1 == so && $2 == "=>" { print $3 }' "$log")
  [ -n "$loaded" ] &&
    [ "$(readlink -f "$loaded")" = "$(readlink -f "$s/lib/$soname")" ]
}
package_consumer shared "$s"
c=$work/shared-consumer/mmu
readelf -d "$c" | grep -q "(NEEDED).*\[$soname\]" ||
  fail "shared: the consumer does not need $soname"
loads_prefix_lib "$c" || fail "shared: the consumer does not load $s/lib/$soname"
nm "$c" | grep -q ' U mmu_init_versioned' ||
  fail "shared: the consumer holds its own copy of the library"
run_consumer "b. find_package, shared" "$c"
readelf -d "$s/bin/mmu" | grep -q '(RUNPATH).*\[$ORIGIN/../lib\]' ||
  fail "shared: bin/mmu has no RUNPATH \$ORIGIN/../lib"
# bin/mmu needs libmmu once it calls into it (--as-needed drops it while it
# does not): then it must load the prefix's, through its rpath.
if readelf -d "$s/bin/mmu" | grep -q "(NEEDED).*\[$soname\]"; then
  loads_prefix_lib "$s/bin/mmu" || fail "shared: bin/mmu does not load $s/lib/$soname"
fi

# --- c. pkg-config and cc, static -----------------------------------------
s=$work/static
pc() { PKG_CONFIG_PATH=$s/lib/pkgconfig pkg-config "$@"; }
step "c. pkg-config --modversion mmu" pc --modversion mmu
[ "$(cat "$log")" = "$version" ] || fail "c. mmu.pc says version $(cat "$log")"
step "c. pkg-config --cflags --libs mmu" pc --cflags --libs mmu
flags=$(cat "$log")
echo "check_install: c. flags: $flags"
# Unquoted: the flags are words, as in a makefile.
# shellcheck disable=SC2086
step "c. cc with pkg-config's flags" \
  "$cc" -std=c11 -o "$work/pc-consumer" "$consumer_src/main.c" $flags
run_consumer "c. pkg-config" "$work/pc-consumer"

# --- d. add_subdirectory, C only ------------------------------------------
b=$work/subdir-consumer
step "d. configure consumer (add_subdirectory, CXX=/nonexistent)" \
  configure "$b" "$consumer_src" -DMMU_CONSUMER=subdirectory \
  -DMMU_SOURCE_DIR="$src"
grep -q "^CMAKE_CXX_COMPILER:.*=/nonexistent$" "$b/CMakeCache.txt" ||
  fail "d. the consumer was not configured with CMAKE_CXX_COMPILER=/nonexistent"
step "d. build consumer" build "$b"
run_consumer "d. add_subdirectory" "$b/mmu"
# The embedder installs nothing of ours unless it sets MMU_INSTALL.
step "d. install the consumer" "$cmake" --install "$b" --config Release \
  --prefix "$work/subdir-prefix"
if [ -n "$(find "$work/subdir-prefix" -type f 2>/dev/null)" ]; then
  fail "d. add_subdirectory installed: $(find "$work/subdir-prefix" -type f)"
fi

rm -rf "$work"
echo "check_install: all four ways built and ran"
