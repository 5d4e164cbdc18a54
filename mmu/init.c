/* SPDX-License-Identifier: MIT */
/* init.c - version, size query, init with struct-size and version checks
 * (as wuffs does), status names, counters. */
#include "internal.h"

MMU_API uint32_t mmu_version(void) { return MMU_VERSION; }
MMU_API const char *mmu_version_string(void) { return MMU_VERSION_STRING; }

MMU_API const char *mmu_status_name(int status) {
  switch (status) {
  case MMU_OK: return "ok";
  case MMU_PAGE_FAULT: return "#PF";
  case MMU_GP_FAULT: return "#GP";
  case MMU_EPT_VIOLATION: return "EPT violation";
  case MMU_EPT_MISCONFIG: return "EPT misconfiguration";
  case MMU_NPF: return "#VMEXIT(NPF)";
  case MMU_ERR_ARG: return "invalid argument";
  case MMU_ERR_VERSION: return "header/library version or struct size mismatch";
  case MMU_ERR_CONFIG: return "config out of range";
  case MMU_ERR_STORAGE: return "storage too small or misaligned";
  case MMU_ERR_RAM: return "malformed RAM region list";
  case MMU_ERR_MODE: return "paging mode not modelled";
  case MMU_ERR_PT_BUS: return "paging entry outside guest RAM";
  case MMU_ERR_CONTENDED: return "A/D update contended, retry";
  case MMU_ERR_NOMEM: return "frame pool exhausted";
  case MMU_ERR_NOSWAP: return "no swap to evict to (none, or full)";
  case MMU_ERR_SWAP_IO: return "swap device error";
  case MMU_ERR_SWAP_CORRUPT: return "swapped page failed its checksum";
  case MMU_ERR_FILE: return "file read or write-back failed";
  case MMU_ERR_NOSPACE: return "no room in the address space (ENOMEM)";
  case MMU_ERR_BADADDR: return "no mapping at the address (EFAULT)";
  case MMU_ERR_BUSY: return "object still mapped (EBUSY)";
  case MMU_ERR_UNINIT: return "object not initialised";
  case MMU_ERR_STATE: return "cpu state does not allow the call";
  default: return "unknown status";
  }
}

/* Apply defaults; 0 if the config is out of range. */
static int mmu__config_geometry(const mmu_config *cfg, uint32_t *sets,
                                uint32_t *ways, uint32_t *front,
                                uint32_t *maxphy) {
  *sets = cfg && cfg->tlb_sets ? cfg->tlb_sets : 64;
  *ways = cfg && cfg->tlb_ways ? cfg->tlb_ways : 4;
  *maxphy = cfg && cfg->maxphyaddr ? cfg->maxphyaddr : 52;
  if (*sets > 65536 || (*sets & (*sets - 1)) != 0)
    return 0;
  if (*ways > 16 || (*ways & (*ways - 1)) != 0)
    return 0;
  if (*maxphy < 36 || *maxphy > 52)
    return 0;
  if (cfg && cfg->front_entries) {
    *front = cfg->front_entries;
    if (*front < 16 || *front > 4096 || (*front & (*front - 1)) != 0)
      return 0;
  } else {
    uint64_t n = (uint64_t)*sets * *ways;
    *front = n < 64 ? 64 : n > 1024 ? 1024 : (uint32_t)n;
  }
  return 1;
}

/* The storage, in order: backing entries, one LRU word per set, then
 * (64-byte aligned) three front tables, then the front's fill log. */
typedef struct mmu__layout {
  size_t lru, front, log, total;
  uint32_t log_cap;
} mmu__layout;

static mmu__layout mmu__storage_layout(uint32_t sets, uint32_t ways,
                                       uint32_t front) {
  mmu__layout l;
  l.lru = (size_t)sets * ways * sizeof(mmu_tlb_entry);
  l.front = l.lru + (size_t)sets * sizeof(uint64_t); /* + alignment, later */
  l.log_cap = front / 4 < 16 ? 16 : front / 4;
  l.log = l.front + 3 * (size_t)front * sizeof(mmu_front_entry);
  /* + 56: from 8- to 64-byte alignment; a multiple of 64 in all, so the
   * size suits aligned_alloc(64, ...) */
  l.total = (l.log + l.log_cap * sizeof(uint32_t) + 56 + 63) & ~(size_t)63;
  return l;
}

MMU_API size_t mmu_tlb_storage_size(const mmu_config *cfg) {
  uint32_t sets, ways, front, maxphy;
  if (!mmu__config_geometry(cfg, &sets, &ways, &front, &maxphy))
    return 0;
  return mmu__storage_layout(sets, ways, front).total;
}

static int mmu__ram_valid(const mmu_ram_region *ram, uint32_t count) {
  if (count && !ram)
    return 0;
  for (uint32_t i = 0; i < count; i++) {
    const mmu_ram_region *a = &ram[i];
    if (!a->host || ((uintptr_t)a->host & 7) || (a->gpa & 0xFFF) ||
        (a->size & 0xFFF) || a->size == 0 || a->gpa >= (1ull << 52) ||
        a->size > (1ull << 52) - a->gpa)
      return 0;
    for (uint32_t j = 0; j < i; j++) {
      const mmu_ram_region *b = &ram[j];
      if (a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size)
        return 0;
    }
  }
  return 1;
}

MMU_API int mmu_init_versioned(mmu_cpu *cpu, size_t sizeof_cpu,
                               uint32_t version, const mmu_config *cfg,
                               void *tlb_storage, size_t storage_bytes) {
  if (!cpu)
    return MMU_ERR_ARG;
  if (sizeof_cpu != sizeof(mmu_cpu) || (version >> 8) != (MMU_VERSION >> 8))
    return MMU_ERR_VERSION;
  uint32_t sets, ways, front, maxphy;
  if (!mmu__config_geometry(cfg, &sets, &ways, &front, &maxphy))
    return MMU_ERR_CONFIG;
  mmu__layout lay = mmu__storage_layout(sets, ways, front);
  if (!tlb_storage || ((uintptr_t)tlb_storage % sizeof(uint64_t)) != 0 ||
      storage_bytes < lay.total)
    return MMU_ERR_STORAGE;
  if (cfg && !mmu__ram_valid(cfg->ram, cfg->ram_count))
    return MMU_ERR_RAM;

  memset(cpu, 0, sizeof *cpu);
  uint8_t *base = (uint8_t *)tlb_storage;
  /* backing entries and LRU words zeroed, the fronts cleared below; the
   * fill log is written before it is read */
  memset(base, 0, lay.front);
  cpu->tlb = (mmu_tlb_entry *)(void *)base;
  cpu->tlb_lru = (uint64_t *)(void *)(base + lay.lru);
  size_t pad = (size_t)(-(uintptr_t)(base + lay.front) & 63);
  mmu_front_entry *fronts = (mmu_front_entry *)(void *)(base + lay.front + pad);
  for (unsigned v = 0; v < 3; v++)
    cpu->front_view[v] = fronts + (size_t)v * front;
  cpu->front_log = (uint32_t *)(void *)(base + lay.log + pad);
  cpu->front_log_cap = lay.log_cap;
  cpu->front_entries = front;
  cpu->front_index_mask = (uint64_t)(front - 1) << 6;
  /* all ones: every comparator and page MMU_FRONT_NONE (a front clear) */
  memset(fronts, 0xFF, 3 * (size_t)front * sizeof *fronts);
  cpu->tlb_set_mask = sets - 1;
  while ((1u << cpu->tlb_set_bits) < sets)
    cpu->tlb_set_bits++;
  cpu->tlb_ways = ways;
  while ((1u << cpu->tlb_ways_log2) < ways)
    cpu->tlb_ways_log2++;
  cpu->tlb_lru_mask = ways == 16 ? ~0ull : (1ull << (4 * ways)) - 1;
  cpu->maxphyaddr = maxphy;
  cpu->addr_mask = MMU__BITS(maxphy - 1, 12);
  if (cfg) {
    cpu->flags = cfg->flags;
    cpu->ram = cfg->ram;
    cpu->ram_count = cfg->ram_count;
    cpu->pt_read = cfg->pt_read;
    cpu->pt_cmpxchg = cfg->pt_cmpxchg;
    cpu->pt_user = cfg->pt_user;
  }
  mmu__ram_make_hot(cpu, cpu->ram_count ? &cpu->ram[0] : NULL);
  cpu->regs.cr0 = 0x60000010; /* the reset value: CD, NW, ET */
  cpu->magic = MMU__MAGIC;
  cpu->version = MMU_VERSION;
  mmu__update_tables(cpu);
  mmu__tlb_flush_all(cpu);
  cpu->stats.flushes_full = 0;
  return MMU_OK;
}

MMU_API int mmu_stats_reset(mmu_cpu *cpu) {
  MMU__TRY(MMU__CHECK_CPU(cpu));
  memset(&cpu->stats, 0, sizeof cpu->stats);
  return MMU_OK;
}
