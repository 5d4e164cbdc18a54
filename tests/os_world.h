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

/* MemorySanitizer marks a kept buffer undefined again for each world */
#define OSW_MSAN 0
#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#undef OSW_MSAN
#define OSW_MSAN 1
#endif
#endif

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

#ifdef OSW_KEEP_POOL
/* Slots below this in the kept swap buffer may hold a run's data (every
 * slot above it is zero still), so a new world zeroes only those. */
static uint64_t osw_swap_dirty;
#endif

static inline int osw_swap_write(void *user, uint64_t slot, const void *page) {
  osw_swap *sw = (osw_swap *)user;
  if (slot >= sw->slots || sw->fail_writes)
    return -1;
  sw->writes++;
  memcpy(sw->data + slot * 4096, page, 4096);
#ifdef OSW_KEEP_POOL
  if (slot >= osw_swap_dirty)
    osw_swap_dirty = slot + 1;
#endif
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

#ifdef OSW_KEEP_POOL
/* A fuzz target's buffers: one per use for every world, the largest asked
 * for so far (allocating megabytes per input costs more than the input:
 * ASan maps and faults in large blocks afresh), the bytes past what this
 * world asked for poisoned for ASan and all of it undefined again for
 * MSan, as a fresh allocation would be. One world at a time. */
enum { OSW_KEEP_FRAMES, OSW_KEEP_SWAP, OSW_KEEP_SYSTEM, OSW_KEEP_TLB, OSW_KEEPS };
static inline void *osw_keep(unsigned use, size_t bytes) {
  static uint8_t *kept[OSW_KEEPS];
  static size_t kept_bytes[OSW_KEEPS];
  if (bytes > kept_bytes[use]) {
    size_t whole = (bytes + 4095) & ~(size_t)4095;
    free(kept[use]);
    kept[use] = (uint8_t *)aligned_alloc(4096, whole);
    kept_bytes[use] = kept[use] ? whole : 0;
    if (!kept[use])
      return NULL;
    if (use == OSW_KEEP_SWAP) /* all of it unknown: zeroed by osw_init */
      osw_swap_dirty = whole / 4096;
  }
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  __asan_unpoison_memory_region(kept[use], bytes);
  __asan_poison_memory_region(kept[use] + bytes, kept_bytes[use] - bytes);
#endif
#if __has_feature(memory_sanitizer)
  __msan_allocated_memory(kept[use], bytes);
#endif
#endif
  return kept[use];
}
#define OSW_ALLOC(use, align, bytes) osw_keep(use, bytes)
#define OSW_RELEASE(p) ((void)(p))
#else
#define OSW_ALLOC(use, align, bytes) aligned_alloc(align, bytes)
#define OSW_RELEASE(p) free(p)
#endif

/* A user-mode cpu in long mode whose RAM is the pool, in `bytes` of TLB
 * storage at tlb. Returns 0 on success. */
static inline int osw_cpu_in(const struct osw *w, mmu_cpu *cpu, void *tlb,
                             size_t bytes) {
  if (!tlb || mmu_init(cpu, &w->cpu_cfg, tlb, bytes) != MMU_OK)
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

/* Such a cpu; *tlb receives its storage (free it). */
static inline int osw_cpu(const struct osw *w, mmu_cpu *cpu, void **tlb) {
  size_t bytes = mmu_tlb_storage_size(&w->cpu_cfg);
  *tlb = aligned_alloc(64, bytes);
  return osw_cpu_in(w, cpu, *tlb, bytes);
}

/* A world of `frames` pool frames and `slots` swap slots (0: no swap).
 * Returns 0 on success. */
static inline int osw_init(osw *w, uint32_t frames, uint64_t slots, unsigned policy,
                    uint32_t sys_flags) {
  memset(w, 0, sizeof *w);
  w->pool = (uint8_t *)OSW_ALLOC(OSW_KEEP_FRAMES, 4096, (size_t)frames * 4096);
  if (!w->pool)
    return -1;
  w->swap.slots = slots;
  w->swap.short_read = -1;
  if (slots) { /* zeroed, as calloc's: a run must not see the last one's */
    if (!(w->swap.data = (uint8_t *)OSW_ALLOC(OSW_KEEP_SWAP, 4096, slots * 4096)))
      return -1;
#if defined(OSW_KEEP_POOL) && !OSW_MSAN
    /* a kept buffer is zero above the slots the last runs wrote */
    uint64_t dirty = osw_swap_dirty < slots ? osw_swap_dirty : slots;
    memset(w->swap.data, 0, dirty * 4096);
    if (osw_swap_dirty <= slots)
      osw_swap_dirty = 0;
#else
    memset(w->swap.data, 0, slots * 4096);
#endif
  }
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
  if (!need || !(w->sys_storage = OSW_ALLOC(OSW_KEEP_SYSTEM, 64, (need + 63) & ~(size_t)63)))
    return -1;
  if (mmu_system_init(&w->sys, &w->cfg, w->sys_storage, need) != MMU_OK)
    return -1;
  w->ram = w->cfg.pool;
  w->cpu_cfg.ram = &w->ram;
  w->cpu_cfg.ram_count = 1;
  size_t bytes = mmu_tlb_storage_size(&w->cpu_cfg);
  w->tlb = OSW_ALLOC(OSW_KEEP_TLB, 64, bytes);
  return osw_cpu_in(w, &w->cpu, w->tlb, bytes);
}

static inline void osw_free(osw *w) {
  OSW_RELEASE(w->pool);
  OSW_RELEASE(w->swap.data);
  OSW_RELEASE(w->sys_storage);
  OSW_RELEASE(w->tlb);
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
