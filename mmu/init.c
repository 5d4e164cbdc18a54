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
  case MMU_ERR_ARG: return "invalid argument";
  case MMU_ERR_VERSION: return "header/library version or struct size mismatch";
  case MMU_ERR_CONFIG: return "config out of range";
  case MMU_ERR_STORAGE: return "TLB storage too small or misaligned";
  case MMU_ERR_RAM: return "malformed RAM region list";
  case MMU_ERR_MODE: return "paging mode not modelled";
  case MMU_ERR_PT_BUS: return "paging entry outside guest RAM";
  case MMU_ERR_CONTENDED: return "A/D update contended, retry";
  default: return "unknown status";
  }
}

/* Apply defaults; 0 if the config is out of range. */
static int mmu__config_geometry(const mmu_config *cfg, uint32_t *sets,
                                uint32_t *ways, uint32_t *maxphy) {
  *sets = cfg && cfg->tlb_sets ? cfg->tlb_sets : 64;
  *ways = cfg && cfg->tlb_ways ? cfg->tlb_ways : 4;
  *maxphy = cfg && cfg->maxphyaddr ? cfg->maxphyaddr : 52;
  if (*sets > 65536 || (*sets & (*sets - 1)) != 0)
    return 0;
  if (*ways > 16 || (*ways & (*ways - 1)) != 0)
    return 0;
  if (*maxphy < 36 || *maxphy > 52)
    return 0;
  return 1;
}

MMU_API size_t mmu_tlb_storage_size(const mmu_config *cfg) {
  uint32_t sets, ways, maxphy;
  if (!mmu__config_geometry(cfg, &sets, &ways, &maxphy))
    return 0;
  return (size_t)sets * ways * sizeof(mmu_tlb_entry);
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
  uint32_t sets, ways, maxphy;
  if (!mmu__config_geometry(cfg, &sets, &ways, &maxphy))
    return MMU_ERR_CONFIG;
  if (!tlb_storage || ((uintptr_t)tlb_storage % sizeof(uint64_t)) != 0 ||
      storage_bytes < (size_t)sets * ways * sizeof(mmu_tlb_entry))
    return MMU_ERR_STORAGE;
  if (cfg && !mmu__ram_valid(cfg->ram, cfg->ram_count))
    return MMU_ERR_RAM;

  memset(cpu, 0, sizeof *cpu);
  /* every byte of the entries, not just the tags: the per-set replacement
   * cursor lives in them (found by MSan in the walk-differential fuzzer) */
  memset(tlb_storage, 0, (size_t)sets * ways * sizeof(mmu_tlb_entry));
  cpu->tlb = (mmu_tlb_entry *)tlb_storage;
  cpu->tlb_set_mask = sets - 1;
  cpu->tlb_ways = ways;
  while ((1u << cpu->tlb_set_bits) < sets)
    cpu->tlb_set_bits++;
  while ((1u << cpu->tlb_set_shift) < ways * sizeof(mmu_tlb_entry))
    cpu->tlb_set_shift++;
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
  cpu->regs.cr0 = 0x60000010; /* the reset value: CD, NW, ET */
  cpu->magic = MMU__MAGIC;
  cpu->version = MMU_VERSION;
  mmu__update_tables(cpu);
  mmu__tlb_flush_all(cpu);
  cpu->stats.flushes_full = 0;
  return MMU_OK;
}

MMU_API void mmu_stats_reset(mmu_cpu *cpu) {
  memset(&cpu->stats, 0, sizeof cpu->stats);
}
