/* SPDX-License-Identifier: MIT */
/* frames.c - the system: its frame pool (a free bitmap, reference counts,
 * the shared zero page), swap-slot table and replacement policy, all in
 * the storage the embedder sized with mmu_system_storage_size(). */
#include "internal.h"

/* Storage layout, each piece 8-byte aligned: frames | free bitmap | slots |
 * policy. */
typedef struct mmu__sys_layout {
  size_t frames, bits, slots, policy, total;
} mmu__sys_layout;

static int mmu__sys_layout_of(const mmu_system_config *cfg,
                              mmu__sys_layout *l) {
  if (!cfg || (cfg->pool.gpa & 0xFFF) || (cfg->pool.size & 0xFFF) ||
      cfg->pool.size < 2 * MMU__PAGE || !cfg->pool.host ||
      ((uintptr_t)cfg->pool.host & 7) || cfg->pool.gpa >= (1ull << 52) ||
      cfg->pool.size > (1ull << 52) - cfg->pool.gpa ||
      (cfg->pool.size >> 12) >= (1ull << 31) ||
      cfg->swap.slots >= (1ull << 40) ||
      (cfg->swap.slots && (!cfg->swap.read || !cfg->swap.write)))
    return 0;
  uint32_t n = (uint32_t)(cfg->pool.size >> 12);
  unsigned policy = mmu__policy_kind(cfg->policy);
  size_t pol = mmu_policy_storage_size(policy, n);
  if (!pol)
    return 0;
  l->frames = 0;
  l->bits = l->frames + (size_t)n * sizeof(struct mmu__frame);
  l->slots = l->bits + ((size_t)n + 63) / 64 * 8;
  l->policy = l->slots + (size_t)cfg->swap.slots * sizeof(struct mmu__slot);
  l->total = l->policy + ((pol + 7) & ~(size_t)7);
  return 1;
}

MMU_API size_t mmu_system_storage_size(const mmu_system_config *cfg) {
  mmu__sys_layout l;
  return mmu__sys_layout_of(cfg, &l) ? l.total : 0;
}

MMU_API int mmu_system_init_versioned(mmu_system *sys, size_t sizeof_sys,
                                      uint32_t version,
                                      const mmu_system_config *cfg,
                                      void *storage, size_t bytes) {
  if (!sys || !cfg)
    return MMU_ERR_ARG;
  if (sizeof_sys != sizeof(mmu_system) || (version >> 8) != (MMU_VERSION >> 8))
    return MMU_ERR_VERSION;
  mmu__sys_layout l;
  if (!mmu__sys_layout_of(cfg, &l))
    return MMU_ERR_CONFIG;
  if (!storage || ((uintptr_t)storage & 7) || bytes < l.total)
    return MMU_ERR_STORAGE;
  memset(sys, 0, sizeof *sys);
  memset(storage, 0, l.total);
  uint8_t *base = (uint8_t *)storage;
  sys->nframes = (uint32_t)(cfg->pool.size >> 12);
  sys->pool_gpa = cfg->pool.gpa;
  sys->pool_host = (uint8_t *)cfg->pool.host;
  sys->frame = (struct mmu__frame *)(void *)(base + l.frames);
  sys->free_bits = (uint64_t *)(void *)(base + l.bits);
  sys->slot = (struct mmu__slot *)(void *)(base + l.slots);
  sys->slots = cfg->swap.slots;
  sys->swap = cfg->swap;
  sys->kick = cfg->kick;
  sys->kick_user = cfg->kick_user;
  sys->flags = cfg->flags;
  unsigned policy = mmu__policy_kind(cfg->policy);
  int rc = mmu_policy_init(&sys->policy, policy, sys->nframes, base + l.policy,
                           l.total - l.policy);
  if (rc != MMU_OK)
    return rc;
  for (uint32_t f = 0; f < sys->nframes; f++)
    sys->free_bits[f / 64] |= 1ull << (f % 64);
  sys->free_count = sys->nframes;
  sys->kind_frames[MMU__FR_FREE] = sys->nframes;
  sys->pinned = MMU__NO_FRAME;
  sys->magic = MMU__SYS_MAGIC;
  sys->version = MMU_VERSION;
  /* The zero page: one frame of zeros every space maps for reads. */
  uint32_t z;
  rc = mmu__frame_alloc(sys, &z);
  MMU_ASSERT(rc == MMU_OK);
  mmu__frame_set_kind(sys, z, MMU__FR_ZERO);
  sys->frame[z].refs = 1;
  sys->zero_frame = z;
  return MMU_OK;
}

static void mmu__frame_take(mmu_system *sys, uint32_t f, int zero) {
  MMU_ASSERT(sys->free_bits[f / 64] >> (f % 64) & 1);
  sys->free_bits[f / 64] &= ~(1ull << (f % 64));
  sys->free_count--;
  MMU_ASSERT(sys->frame[f].kind == MMU__FR_FREE);
  memset(&sys->frame[f], 0, sizeof sys->frame[f]);
  if (zero)
    memset(mmu__frame_host(sys, f), 0, MMU__PAGE);
}

/* A frame, or MMU_ERR_NOMEM. Never reclaims: callers reserve with
 * mmu__ensure_free() first, before they hold pointers into page tables.
 * Unzeroed only for callers that overwrite all 4096 bytes before any
 * space can see them (copy-on-write, swap-in). */
static int mmu__frame_alloc_any(mmu_system *sys, uint32_t *frame, int zero) {
  if (!sys->free_count)
    return MMU_ERR_NOMEM;
  uint32_t words = (sys->nframes + 63) / 64;
  for (uint32_t i = 0; i < words; i++) {
    uint32_t w = (sys->free_cursor + i) % words;
    if (sys->free_bits[w]) {
      uint32_t f = w * 64 + (uint32_t)__builtin_ctzll(sys->free_bits[w]);
      mmu__frame_take(sys, f, zero);
      sys->free_cursor = w;
      *frame = f;
      return MMU_OK;
    }
  }
  MMU_ASSERT(0);
  return MMU_ERR_NOMEM;
}

static int mmu__frame_alloc(mmu_system *sys, uint32_t *frame) {
  return mmu__frame_alloc_any(sys, frame, 1);
}

static int mmu__frames_free_run(const mmu_system *sys, uint32_t f, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!(sys->free_bits[(f + i) / 64] >> ((f + i) % 64) & 1))
      return 0;
  return 1;
}

/* 512 free frames starting at a 2 MiB-aligned guest-physical address. */
static int mmu__frame_alloc_huge(mmu_system *sys, uint32_t *head) {
  uint32_t first = (uint32_t)((512 - ((sys->pool_gpa >> 12) & 511)) & 511);
  for (uint64_t f = first; f + 512 <= sys->nframes; f += 512) {
    if (!mmu__frames_free_run(sys, (uint32_t)f, 512))
      continue;
    for (uint32_t i = 0; i < 512; i++) {
      mmu__frame_take(sys, (uint32_t)f + i, 1);
      mmu__frame_set_kind(sys, (uint32_t)f + i, MMU__FR_HUGE_TAIL);
    }
    mmu__frame_set_kind(sys, (uint32_t)f, MMU__FR_HUGE);
    *head = (uint32_t)f;
    return MMU_OK;
  }
  return MMU_ERR_NOMEM;
}

/* Freed for reuse once no cpu can still reach it (mmu__tlb_finish). */
static void mmu__frame_free(mmu_system *sys, uint32_t f) {
  uint32_t n = sys->frame[f].kind == MMU__FR_HUGE ? 512 : 1;
  if (sys->frame[f].kind == MMU__FR_PAGE) {
    mmu_policy_remove(&sys->policy, f);
    mmu__uncache(sys, f);
  }
  for (uint32_t i = 0; i < n; i++)
    MMU_ASSERT(!(sys->free_bits[(f + i) / 64] >> ((f + i) % 64) & 1));
  mmu__frame_defer(sys, f, n);
}

/* Reclaim until `frames` frames are free. */
static int mmu__ensure_free(mmu_system *sys, uint32_t frames) {
  while (sys->free_count < frames) {
    if (sys->deferred) { /* their entries are gone and posted already */
      mmu__tlb_finish(sys);
      continue;
    }
    /* NOSWAP when the victim needed swap there was none of (SPEC 9.5) */
    int rc = mmu__reclaim_one(sys);
    if (rc != MMU_OK)
      return rc;
  }
  return MMU_OK;
}

MMU_API const mmu_vmstat *mmu_system_vmstat(const mmu_system *sys) {
  return MMU__CHECK_SYS(sys) == MMU_OK ? &sys->vm : NULL;
}

MMU_API int mmu_system_reclaim(mmu_system *sys, uint32_t pages,
                               uint32_t *reclaimed) {
  uint32_t done = 0;
  int rc = MMU_OK;
  MMU__TRY(MMU__CHECK_SYS(sys));
  while (done < pages && (rc = mmu__reclaim_one(sys)) == MMU_OK)
    done++;
  mmu__tlb_finish(sys);
  if (reclaimed)
    *reclaimed = done;
  return rc;
}

MMU_API int mmu_system_usage(const mmu_system *sys, mmu_usage *out) {
  MMU__TRY(MMU__CHECK_SYS(sys));
  if (!out)
    return MMU_ERR_ARG;
  memset(out, 0, sizeof *out);
  out->frames_total = sys->nframes;
  out->frames_free = sys->free_count;
  out->swap_total = sys->slots;
  out->swap_used = sys->slots_used;
  out->frames_pt = sys->kind_frames[MMU__FR_PT];
  out->frames_anon = (uint64_t)sys->kind_frames[MMU__FR_PAGE] +
                     sys->kind_frames[MMU__FR_HUGE] +
                     sys->kind_frames[MMU__FR_HUGE_TAIL];
  return MMU_OK;
}
