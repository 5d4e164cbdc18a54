/* SPDX-License-Identifier: MIT */
/* Two vCPUs sharing page tables (SPEC.md 2.3): A/D updates are atomic
 * compare-exchanges, so a concurrent writer of the same entries never loses
 * a bit, and each vCPU's TLB is its own. */
#include <pthread.h>
#include <stdatomic.h>

#include "pt.h"

#define PAGES 64
#define VA(i) (PT_SLOT(0) + (uint64_t)(i) * 4096)
#define AVL_BIT (1ull << 9) /* ignored by the processor, free for software */

typedef struct shared {
  pt_env *e;
  atomic_int stop;
  uint64_t toggles[PAGES];
  uint64_t translations;
  int failures;
} shared;

/* The "other CPU": flips an ignored bit and clears A/D with atomic RMWs. */
static void *kernel_thread(void *arg) {
  shared *s = arg;
  uint64_t rounds = 0;
  while (!atomic_load(&s->stop) || rounds < 2000) {
    for (int i = 0; i < PAGES; i++) {
      uint64_t *leaf = (uint64_t *)(void *)pt_host(s->e, pt_entry_gpa(s->e, VA(i), 1));
      __atomic_fetch_xor(leaf, AVL_BIT, __ATOMIC_SEQ_CST);
      __atomic_fetch_and(leaf, ~(F_A | F_D), __ATOMIC_SEQ_CST);
      s->toggles[i]++;
    }
    rounds++;
  }
  return NULL;
}

Test(shared_tables, concurrent_entry_writers_lose_no_bits) {
  static shared s;
  memset(&s, 0, sizeof s);
  pt_env_init(&E, NULL, 4);
  for (int i = 0; i < PAGES; i++)
    pt_map4k(&E, VA(i), PT_DATA + (uint64_t)i * 4096, F_PWU);
  pt_boot(&E, 0, 3);
  s.e = &E;

  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, kernel_thread, &s), 0);
  for (int round = 0; round < 3000; round++) {
    for (int i = 0; i < PAGES; i++) {
      mmu_result r;
      mmu_invlpg(&E.cpu, VA(i)); /* every write walks and sets A/D */
      int st = mmu_translate(&E.cpu, VA(i), MMU_WRITE, &r);
      if (st != MMU_OK || r.paddr != PT_DATA + (uint64_t)i * 4096)
        s.failures++;
      s.translations++;
    }
  }
  atomic_store(&s.stop, 1);
  pthread_join(t, NULL);

  cr_assert_eq(s.failures, 0);
  for (int i = 0; i < PAGES; i++) {
    uint64_t leaf = pt_get(&E, VA(i), 1);
    /* the kernel thread's toggles all landed: none overwritten by A/D */
    EQ((leaf & AVL_BIT) != 0, (s.toggles[i] & 1) != 0);
    /* and every other bit of the entry is what was mapped */
    EQ(leaf & ~(AVL_BIT | F_A | F_D), (PT_DATA + (uint64_t)i * 4096) | F_PWU);
  }
  /* one more write per page, alone: A and D are set again */
  for (int i = 0; i < PAGES; i++) {
    mmu_result r;
    mmu_invlpg(&E.cpu, VA(i));
    ST(mmu_translate(&E.cpu, VA(i), MMU_WRITE, &r), MMU_OK);
    EQ(pt_get(&E, VA(i), 1) & (F_A | F_D), F_A | F_D);
  }
  cr_log_info("%llu translations, %llu walk retries after lost races",
              (unsigned long long)s.translations,
              (unsigned long long)E.cpu.stats.walk_retries);
  pt_env_fini(&E);
}

Test(shared_tables, each_vcpu_has_its_own_tlb) {
  pt_env_init(&E, NULL, 4);
  pt_map4k(&E, VA(0), PT_DATA, F_PWU);
  pt_boot(&E, 0, 0);

  /* a second vCPU on the same RAM and tables */
  mmu_cpu b;
  size_t bytes = mmu_tlb_storage_size(&E.cfg);
  void *tlb = aligned_alloc(64, bytes);
  ST(mmu_init(&b, &E.cfg, tlb, bytes), MMU_OK);
  mmu_regs regs = pt_regs(&E);
  ST(mmu_load_regs(&b, &regs), MMU_OK);

  mmu_result r;
  ST(mmu_translate(&E.cpu, VA(0), MMU_READ, &r), MMU_OK);
  ST(mmu_translate(&b, VA(0), MMU_READ, &r), MMU_OK);
  /* remap; only cpu b is told (its INVLPG); cpu A may still use its entry */
  pt_set(&E, VA(0), 1, (PT_DATA + 4096) | F_PWU | F_A);
  mmu_invlpg(&b, VA(0));
  ST(mmu_translate(&b, VA(0), MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PT_DATA + 4096);
  uint64_t walks = E.cpu.stats.walks;
  ST(mmu_translate(&E.cpu, VA(0), MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PT_DATA); /* stale on A until A's own shootdown */
  EQ(E.cpu.stats.walks, walks);
  mmu_invlpg(&E.cpu, VA(0));
  ST(mmu_translate(&E.cpu, VA(0), MMU_READ, &r), MMU_OK);
  EQ(r.paddr, PT_DATA + 4096);
  free(tlb);
  pt_env_fini(&E);
}
