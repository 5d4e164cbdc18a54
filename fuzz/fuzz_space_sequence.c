/* SPDX-License-Identifier: MIT */
/* fuzz_space_sequence.c - the OS side (mmu_system, mmu_space) against a
 * shadow model: sequences of mmap, munmap, mprotect, brk, fork, exit,
 * reads, writes, reclaim and injected swap and file faults over up to four
 * processes on one small frame pool. The decoder, the model and every
 * check are in space_model.h, which tests/test_space_property.c runs on
 * fixed-seed inputs too. */
#define OSW_KEEP_POOL 1 /* tests/os_world.h: one frame pool for all inputs */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#endif
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#endif
#endif
#include "space_model.h"

/* Operations an input may run: 64, where the model's property test runs
 * 300. Four times the executions a second for the same coverage (fuzz/
 * README.md, "Speed": equal-time runs, and how soon each found this
 * stop's two findings). SM_MAX_OPS sets it: the regressions replay with
 * 300, as some were found with 300. */
#define SM_FUZZ_OPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sm_state st;
  static int set;
  if (!set) {
    const char *every = getenv("SM_CHECK_EVERY");
    sm_check_interval = every && atoi(every) > 0 ? (unsigned)atoi(every) : 8;
    const char *ops = getenv("SM_MAX_OPS");
    sm_max_ops = ops && atoi(ops) > 0 ? (unsigned)atoi(ops) : SM_FUZZ_OPS;
    set = 1;
  }
  return sm_run(&st, data, size);
}
