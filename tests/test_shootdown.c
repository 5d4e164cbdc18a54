/* SPDX-License-Identifier: MIT */
/* The OS side's TLB shootdowns to managed cpus (SPEC 2.3), on one thread:
 * postings wait in the cpu's ring until its owner applies them, a full
 * ring becomes a full flush, a running cpu is waited for (kick), and the
 * cpu's own faults through mmu_space_access never wait for itself. The
 * threaded test is vcpu_threads.c. */
#include "os_test.h"

#define WIN 0x10000000ull
#define P(n) (WIN + (uint64_t)(n)*PAGE)

static osw W;
static mmu_space S;

static void setup(void) {
  ost_world(&W, &S, 256, 0, 0);
  uint64_t got;
  OK(mmu_space_mmap(&S, P(0), 32 * PAGE, RW, MMU_MAP_FIXED, NULL, 0, &got));
  for (uint64_t p = 0; p < 32; p++)
    OK(osw_write8(&W, &S, P(p), (uint8_t)p, NULL));
}
static void teardown(void) { ost_world_free(&W, &S); }
TestSuite(shootdown, .init = setup, .fini = teardown, .timeout = 30);

static int cached(uint64_t page) {
  return mmu_translate_host(&W.cpu, P(page), MMU_READ) != NULL;
}

Test(shootdown, an_unmanaged_cpu_is_invalidated_at_once) {
  cr_assert(cached(3));
  OK(mmu_space_munmap(&S, P(3), PAGE));
  cr_assert(!cached(3));
  EQ(W.cpu.shoot_posted, 0);
}

Test(shootdown, an_idle_cpu_applies_postings_when_it_enters) {
  mmu_cpu_leave(&W.cpu); /* managed, outside guest code */
  cr_assert(cached(3));
  OK(mmu_space_munmap(&S, P(3), PAGE));
  EQ(W.cpu.shoot_posted, 1);
  EQ(W.cpu.shoot_applied, 0);
  cr_assert(cached(3), "the OS side never touched the cpu");
  mmu_cpu_enter(&W.cpu);
  EQ(W.cpu.shoot_applied, 1);
  cr_assert(!cached(3));
  cr_assert(cached(4), "one page, not a flush");
  mmu_cpu_leave(&W.cpu); /* before any OS-side call, teardown's too */
}

Test(shootdown, more_than_the_ring_holds_is_a_full_flush) {
  mmu_cpu_leave(&W.cpu);
  uint64_t flushes = W.cpu.stats.flushes_pcid;
  for (uint64_t p = 0; p < 10; p++)
    OK(mmu_space_munmap(&S, P(2 * p), PAGE));
  EQ(W.cpu.shoot_posted, 10);
  mmu_cpu_sync(&W.cpu); /* the owner's interrupt window */
  EQ(W.cpu.shoot_applied, 10);
  EQ(W.cpu.stats.flushes_pcid, flushes + 1);
  for (uint64_t p = 0; p < 32; p++)
    cr_assert(!cached(p), "page %llu", (unsigned long long)p);
}

Test(shootdown, a_miss_applies_what_is_posted) {
  mmu_cpu_leave(&W.cpu);
  OK(mmu_space_munmap(&S, P(5), PAGE));
  mmu_result r;
  /* page 30 is cached: a hit applies nothing; page 31's walk does */
  mmu_cpu_enter(&W.cpu);
  mmu_cpu_leave(&W.cpu);
  OK(mmu_space_munmap(&S, P(6), PAGE));
  mmu_invlpg(&W.cpu, P(31));
  cr_assert(cached(6));
  OK(mmu_translate(&W.cpu, P(31), MMU_READ, &r));
  cr_assert(!cached(6));
}

/* The IPI: the embedder's kick makes the running cpu reach its interrupt
 * window. Here cpu and OS side share the thread, so the kick applies the
 * postings itself, as the vCPU's handler would on its own thread. */
static int kicks;
static void kick_now(void *user, mmu_cpu *cpu) {
  (void)user;
  kicks++;
  mmu_cpu_apply_shootdowns(cpu);
}

Test(shootdown, a_running_cpu_is_waited_for) {
  W.sys.kick = kick_now;
  kicks = 0;
  mmu_cpu_enter(&W.cpu);
  OK(mmu_space_munmap(&S, P(7), 2 * PAGE));
  EQ(kicks, 1);
  EQ(W.cpu.shoot_applied, W.cpu.shoot_posted);
  cr_assert(!cached(7) && !cached(8));
  mmu_cpu_leave(&W.cpu);
}

/* mmu_space_access on a running cpu leaves guest code around its fault:
 * without that, the fault's wait for this very cpu would never end (the
 * suite's timeout would fail the test). */
Test(shootdown, access_on_a_running_cpu_does_not_wait_for_itself) {
  mmu_cpu_leave(&W.cpu);
  mmu_space child;
  OK(osw_fork(&S, &child)); /* the parent's pages lose W: posted */
  mmu_cpu_enter(&W.cpu);
  mmu_fault_info f;
  OK(osw_write8(&W, &S, P(9), 1, &f)); /* copy-on-write, posts to this cpu */
  EQ(f.fault_class, MMU_FAULT_COW);
  EQ(W.cpu.shoot_state, 2); /* running again */
  EQ(W.cpu.shoot_applied, W.cpu.shoot_posted);
  mmu_cpu_leave(&W.cpu);
  osw_space_free(&child);
}
