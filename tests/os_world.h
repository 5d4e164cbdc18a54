/* SPDX-License-Identifier: MIT */
/* os_world.h - a system, its pool, an optional in-memory swap device and one
 * user-mode cpu, for the OS-side tests (test_space.c, test_swap.c, the
 * kernel comparison and the property test). Test code: it may allocate. */
#ifndef MMU_TESTS_OS_WORLD_H
#define MMU_TESTS_OS_WORLD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mmu.h"

#define OSW_POOL_GPA 0x40000000ull /* 1 GiB: 2 MiB aligned */

/* In-memory swap: every slot 4096 bytes; faults can be injected. */
typedef struct osw_swap {
  uint8_t *data;
  uint64_t slots;
  uint64_t reads, writes;
  int fail_writes;      /* write returns an error */
  long short_read;      /* read returns this many bytes when >= 0 */
} osw_swap;

static inline long osw_swap_read(void *user, uint64_t slot, void *page) {
  osw_swap *sw = (osw_swap *)user;
  if (slot >= sw->slots)
    return -1;
  sw->reads++;
  if (sw->short_read >= 0) {
    memcpy(page, sw->data + slot * 4096, (size_t)sw->short_read);
    return sw->short_read;
  }
  memcpy(page, sw->data + slot * 4096, 4096);
  return 4096;
}

static inline int osw_swap_write(void *user, uint64_t slot, const void *page) {
  osw_swap *sw = (osw_swap *)user;
  if (slot >= sw->slots || sw->fail_writes)
    return -1;
  sw->writes++;
  memcpy(sw->data + slot * 4096, page, 4096);
  return 0;
}

typedef struct osw osw;
struct osw {
  mmu_system sys;
  mmu_system_config cfg;
  void *sys_storage;
  uint8_t *pool;
  osw_swap swap;
  mmu_cpu cpu;
  mmu_config cpu_cfg;
  mmu_ram_region ram;
  void *tlb;
};

/* A user-mode cpu in long mode whose RAM is the pool; *tlb receives its
 * storage (free it). Returns 0 on success. */
static inline int osw_cpu(const struct osw *w, mmu_cpu *cpu, void **tlb) {
  size_t bytes = mmu_tlb_storage_size(&w->cpu_cfg);
  if (!(*tlb = aligned_alloc(64, bytes)))
    return -1;
  if (mmu_init(cpu, &w->cpu_cfg, *tlb, bytes) != MMU_OK)
    return -1;
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr4 = MMU_CR4_PAE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA |
           ((w->cfg.flags & MMU_SYS_NO_NX) ? 0 : MMU_EFER_NXE);
  r.cr3 = OSW_POOL_GPA;
  r.cpl = 3;
  return mmu_load_regs(cpu, &r) == MMU_OK ? 0 : -1;
}

/* A world of `frames` pool frames and `slots` swap slots (0: no swap).
 * Returns 0 on success. */
#ifdef OSW_KEEP_POOL
/* A fuzz target's pool: one buffer for every world, the largest asked for
 * so far (allocating megabytes per input costs more than the input), its
 * bytes past the world's pool poisoned for ASan and all of it undefined
 * again for MSan, as a fresh allocation would be. One world at a time. */
static inline uint8_t *osw_keep_pool(size_t bytes) {
  static uint8_t *kept;
  static size_t kept_bytes;
  if (bytes > kept_bytes) {
    free(kept);
    kept = (uint8_t *)aligned_alloc(4096, bytes);
    kept_bytes = kept ? bytes : 0;
    if (!kept)
      return NULL;
  }
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  __asan_unpoison_memory_region(kept, bytes);
  __asan_poison_memory_region(kept + bytes, kept_bytes - bytes);
#endif
#if __has_feature(memory_sanitizer)
  __msan_allocated_memory(kept, bytes);
#endif
#endif
  return kept;
}
#endif

static inline int osw_init(osw *w, uint32_t frames, uint64_t slots, unsigned policy,
                    uint32_t sys_flags) {
  memset(w, 0, sizeof *w);
#ifdef OSW_KEEP_POOL
  w->pool = osw_keep_pool((size_t)frames * 4096);
#else
  w->pool = (uint8_t *)aligned_alloc(4096, (size_t)frames * 4096);
#endif
  if (!w->pool)
    return -1;
  w->swap.slots = slots;
  w->swap.short_read = -1;
  if (slots && !(w->swap.data = (uint8_t *)calloc(slots, 4096)))
    return -1;
  w->cfg.pool.gpa = OSW_POOL_GPA;
  w->cfg.pool.size = (uint64_t)frames * 4096;
  w->cfg.pool.host = w->pool;
  w->cfg.policy = policy;
  w->cfg.flags = sys_flags;
  if (slots) {
    w->cfg.swap.read = osw_swap_read;
    w->cfg.swap.write = osw_swap_write;
    w->cfg.swap.user = &w->swap;
    w->cfg.swap.slots = slots;
  }
  size_t need = mmu_system_storage_size(&w->cfg);
  if (!need || !(w->sys_storage = aligned_alloc(64, (need + 63) & ~(size_t)63)))
    return -1;
  if (mmu_system_init(&w->sys, &w->cfg, w->sys_storage, need) != MMU_OK)
    return -1;
  w->ram = w->cfg.pool;
  w->cpu_cfg.ram = &w->ram;
  w->cpu_cfg.ram_count = 1;
  return osw_cpu(w, &w->cpu, &w->tlb);
}

static inline void osw_free(osw *w) {
#ifndef OSW_KEEP_POOL
  free(w->pool);
#endif
  free(w->swap.data);
  free(w->sys_storage);
  free(w->tlb);
}

/* A space with its own region storage (freed by osw_space_free). */
static inline int osw_space(osw *w, mmu_space *s, const mmu_space_config *cfg) {
  size_t need = mmu_space_storage_size(cfg);
  void *st = malloc(need);
  if (!st)
    return MMU_ERR_NOMEM;
  int rc = mmu_space_init(s, &w->sys, cfg, st, need);
  if (rc != MMU_OK)
    free(st);
  return rc;
}

static inline int osw_fork(mmu_space *parent, mmu_space *child) {
  size_t need = (size_t)parent->max_regions * sizeof(mmu_region);
  void *st = malloc(need);
  if (!st)
    return MMU_ERR_NOMEM;
  int rc = mmu_space_fork(parent, child, st, need);
  if (rc != MMU_OK)
    free(st);
  return rc;
}

static inline void osw_space_free(mmu_space *s) {
  void *st = s->regions;
  mmu_space_destroy(s);
  free(st);
}

/* One-byte user accesses through the cpu, faults resolved. */
static inline int osw_read8(osw *w, mmu_space *s, uint64_t va, uint8_t *v,
                     mmu_fault_info *info) {
  return mmu_space_read(s, &w->cpu, va, v, 1, info);
}
static inline int osw_write8(osw *w, mmu_space *s, uint64_t va, uint8_t v,
                      mmu_fault_info *info) {
  return mmu_space_write(s, &w->cpu, va, &v, 1, info);
}

#endif
