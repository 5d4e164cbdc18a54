/* SPDX-License-Identifier: MIT */
/* os_test.h - what the Criterion tests of the OS side share: the
 * assertions, and a world of one space running on the world's cpu. */
#ifndef MMU_TESTS_OS_TEST_H
#define MMU_TESTS_OS_TEST_H

#include <criterion/criterion.h>

#include "os_world.h"

#define EQ(a, b)                                                               \
  cr_assert_eq((uint64_t)(a), (uint64_t)(b), "%s = %#llx, want %#llx", #a,     \
               (unsigned long long)(a), (unsigned long long)(b))
#define OK(x) EQ((x), MMU_OK)
#define PAGE 4096ull
#define RW (MMU_PROT_READ | MMU_PROT_WRITE)

/* w with `frames` frames and `slots` swap slots, and s active on its cpu. */
static inline void ost_world(osw *w, mmu_space *s, uint32_t frames,
                             uint64_t slots, uint32_t sys_flags) {
  cr_assert_eq(osw_init(w, frames, slots, 0, sys_flags), 0);
  OK(osw_space(w, s, NULL));
  OK(mmu_space_activate(s, &w->cpu));
}

static inline void ost_world_free(osw *w, mmu_space *s) {
  if (s->magic)
    osw_space_free(s);
  osw_free(w);
}

#endif
