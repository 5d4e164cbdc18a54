#!/bin/bash -eu
# SPDX-License-Identifier: MIT
# OSS-Fuzz build script for mmu (https://google.github.io/oss-fuzz/).
# Honours $CC, $CXX, $CFLAGS, $CXXFLAGS, $LIB_FUZZING_ENGINE, $OUT, $SRC
# (and $WORK for scratch). Every fuzz/fuzz_<name>.c becomes $OUT/fuzz_<name>
# with fuzz_<name>.dict and fuzz_<name>_seed_corpus.zip beside it.
# fuzz/oss-fuzz/run_local.sh runs this the way OSS-Fuzz does. Targets may
# include headers from elsewhere in the tree (fuzz_space_sequence: tests/
# os_world.h through fuzz/space_model.h): the whole repository is in $SRC/mmu.
cd "$SRC/mmu"
work=${WORK:-$(mktemp -d)}
mkdir -p "$work/mmu-fuzz"
obj=$work/mmu-fuzz

# The library (MMU_ASSERT live), the vector reader/runner and the `mmu`
# command's parsers and `mmu walk`, instrumented.
# Under libFuzzer: edge coverage only, and none in the reference walker,
# as fuzz/CMakeLists.txt does (fuzz/README.md "Speed").
common=(-std=gnu11 -UNDEBUG -Iinclude -Iconformance -Icli -Ifuzz)
libflags=()
case " $CFLAGS " in
*fuzzer-no-link*)
  common+=(-fno-sanitize-coverage=trace-cmp)
  libflags=(-fsanitize-coverage-ignorelist=fuzz/coverage_ignore.txt) ;;
esac
libobjs=()
for src in mmu/mmu.c conformance/vector.c conformance/check.c cli/parse.c \
  cli/walk.c cli/util.c; do
  o=$obj/$(basename "$src" .c).o
  $CC $CFLAGS "${libflags[@]}" "${common[@]}" -c "$src" -o "$o"
  libobjs+=("$o")
done

# Seeds from the conformance vectors (a host tool: no fuzzing flags).
$CC -std=gnu11 -O1 -Iinclude -Iconformance fuzz/make_seeds.c \
  conformance/vector.c -o "$obj/make_seeds"
rm -rf "$obj/seeds"
"$obj/make_seeds" "$obj/seeds" conformance/vectors/*.vec

for src in fuzz/fuzz_*.c; do
  name=$(basename "$src" .c) # fuzz_<target>
  target=${name#fuzz_}
  $CC $CFLAGS "${common[@]}" -c "$src" -o "$obj/$name.o"
  $CXX $CXXFLAGS "$obj/$name.o" "${libobjs[@]}" $LIB_FUZZING_ENGINE \
    -o "$OUT/$name"
  [ -f "fuzz/$target.dict" ] && cp "fuzz/$target.dict" "$OUT/$name.dict"
  # seed corpus: generated seeds, the checked-in corpus, the regressions
  rm -rf "$obj/zip-$target"
  mkdir -p "$obj/zip-$target"
  for d in "$obj/seeds/$target" "fuzz/corpus/$target" "fuzz/regressions/$target"; do
    [ -d "$d" ] || continue
    find "$d" -maxdepth 1 -type f ! -name '*.md' ! -name 'README*' \
      -exec cp {} "$obj/zip-$target/" \;
  done
  rm -f "$OUT/${name}_seed_corpus.zip"
  (cd "$obj/zip-$target" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
done
