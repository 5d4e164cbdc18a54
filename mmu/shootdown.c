/* SPDX-License-Identifier: MIT */
/* shootdown.c - TLB shootdowns between the OS side and vCPU threads, as
 * Linux's flush_tlb_mm_range and mmu_gather do them: an entry changes
 * first; the cpus running its space learn of it (a range posted to each,
 * which the owner thread applies itself); a frame the entry mapped is read
 * for swap-out, or freed for reuse, only once every running cpu has
 * applied what was posted (the IPI's acknowledgment). */
#include "internal.h"

enum { MMU__CPU_UNMANAGED = 0, MMU__CPU_IDLE = 1, MMU__CPU_RUNNING = 2 };
#define MMU__SHOOT_RING 8u /* ranges a cpu holds; more: a full flush */

static inline void mmu__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Beyond 32 pages a full flush (Linux's tlb_single_page_flush_ceiling is
 * 33); user pages are never global. */
static void mmu__invalidate_range(mmu_cpu *cpu, uint64_t va, uint64_t pages) {
  if (pages > 32) {
    mmu__tlb_flush_nonglobal(cpu); /* counts itself */
  } else {
    for (uint64_t p = 0; p < pages; p++)
      mmu_invlpg(cpu, va + p * MMU__PAGE);
  }
}

MMU_API int mmu_cpu_apply_shootdowns(mmu_cpu *cpu) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  uint32_t done = cpu->shoot_applied;
  uint32_t posted = __atomic_load_n(&cpu->shoot_posted, __ATOMIC_SEQ_CST);
  int all = posted - done > MMU__SHOOT_RING;
  for (uint32_t n = done; !all && n != posted; n++) {
    uint32_t i = n % MMU__SHOOT_RING;
    uint64_t va = __atomic_load_n(&cpu->shoot_va[i], __ATOMIC_RELAXED);
    uint32_t pages = __atomic_load_n(&cpu->shoot_pages[i], __ATOMIC_RELAXED);
    mmu__invalidate_range(cpu, va, pages);
  }
  if (!all) { /* the poster may have lapped the ring while we read it */
    uint32_t now = __atomic_load_n(&cpu->shoot_posted, __ATOMIC_ACQUIRE);
    if (now - done > MMU__SHOOT_RING) {
      all = 1;
      posted = now;
    }
  }
  if (all)
    mmu__tlb_flush_nonglobal(cpu);
  __atomic_store_n(&cpu->shoot_applied, posted, __ATOMIC_RELEASE);
  return MMU_OK;
}

MMU_API int mmu_cpu_enter(mmu_cpu *cpu) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* seq_cst store, then seq_cst load of shoot_posted: a poster that saw
   * IDLE posted before this load (it stores, then loads the state) */
  __atomic_store_n(&cpu->shoot_state, MMU__CPU_RUNNING, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&cpu->shoot_posted, __ATOMIC_SEQ_CST) !=
      cpu->shoot_applied)
    mmu_cpu_apply_shootdowns(cpu);
  return MMU_OK;
}

MMU_API int mmu_cpu_leave(mmu_cpu *cpu) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  /* release: the guest's writes so far happen before a poster that reads
   * IDLE looks at the frames */
  __atomic_store_n(&cpu->shoot_state, MMU__CPU_IDLE, __ATOMIC_SEQ_CST);
  return MMU_OK;
}

/* Invalidate [va, va + pages*4K) on every cpu running the space: directly
 * on an unmanaged cpu, by posting on a managed one. */
static void mmu__shootdown(mmu_space *s, uint64_t va, uint64_t pages) {
  mmu_system *sys = s->sys;
  for (uint32_t i = 0; i < 8; i++) {
    mmu_cpu *cpu = sys->cpus[i];
    if (!(s->cpu_mask >> i & 1) || !cpu)
      continue;
    if (__atomic_load_n(&cpu->shoot_state, __ATOMIC_ACQUIRE) ==
        MMU__CPU_UNMANAGED) {
      mmu__invalidate_range(cpu, va, pages);
      continue;
    }
    uint32_t n = __atomic_load_n(&cpu->shoot_posted, __ATOMIC_RELAXED);
    uint32_t slot = n % MMU__SHOOT_RING;
    __atomic_store_n(&cpu->shoot_va[slot], va, __ATOMIC_RELAXED);
    __atomic_store_n(&cpu->shoot_pages[slot],
                     pages > 32 ? 33u : (uint32_t)pages, __ATOMIC_RELAXED);
    __atomic_store_n(&cpu->shoot_posted, n + 1, __ATOMIC_SEQ_CST);
    sys->shoot_wait |= 1u << i;
  }
}

/* Frames whose entries are gone wait here, linked through index, until the
 * cpus that may still cache those entries let go of them. */
static void mmu__frame_defer(mmu_system *sys, uint32_t f, uint32_t n) {
  mmu__frame_set_kind(sys, f, MMU__FR_DEFERRED);
  sys->frame[f].refs = n;
  sys->frame[f].index = sys->deferred;
  sys->deferred = f + 1;
}

/* Wait until every running cpu posted to applied the postings (an idle one
 * applies them in mmu_cpu_enter before it translates again), then free the
 * deferred frames. The end of every OS-side call, and wherever a frame's
 * bytes are read or it is needed again. */
static void mmu__tlb_finish(mmu_system *sys);

/* How every OS-side call on a space ends: what it posted is applied by
 * every running cpu and the frames it freed are released, whatever rc. */
static int mmu__space_done(mmu_space *s, int rc) {
  mmu__tlb_finish(s->sys);
  return rc;
}

static void mmu__tlb_finish(mmu_system *sys) {
  for (uint32_t i = 0; i < 8; i++) {
    mmu_cpu *cpu = sys->cpus[i];
    if (!(sys->shoot_wait >> i & 1) || !cpu)
      continue;
    /* only the OS side posts, and it is here: what it posted is final */
    uint32_t target = __atomic_load_n(&cpu->shoot_posted, __ATOMIC_RELAXED);
    int kicked = 0;
    while ((int32_t)(__atomic_load_n(&cpu->shoot_applied, __ATOMIC_ACQUIRE) -
                     target) < 0 &&
           __atomic_load_n(&cpu->shoot_state, __ATOMIC_SEQ_CST) ==
               MMU__CPU_RUNNING) {
      if (!kicked && sys->kick) {
        sys->kick(sys->kick_user, cpu);
        kicked = 1;
      }
      mmu__cpu_relax();
    }
  }
  sys->shoot_wait = 0;
  while (sys->deferred) {
    uint32_t f = sys->deferred - 1, n = sys->frame[f].refs;
    sys->deferred = (uint32_t)sys->frame[f].index;
    for (uint32_t i = 0; i < n; i++) {
      mmu__frame_set_kind(sys, f + i, MMU__FR_FREE);
      memset(&sys->frame[f + i], 0, sizeof sys->frame[f + i]);
      sys->free_bits[(f + i) / 64] |= 1ull << ((f + i) % 64);
    }
    sys->free_count += n;
  }
}
