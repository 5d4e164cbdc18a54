/* SPDX-License-Identifier: MIT */
/* mmu walk - one translation explained, as a textbook draws it: the linear
 * address cut into table indices, each paging entry read with its flags
 * and the reserved bits that fired, then the physical address or the fault
 * with its error code decoded. The library's reference walker (with its
 * trace) does the walk; the explanation of why a bit is reserved or an
 * access denied restates SDM 4.5-4.7 beside it, and mmu_translate (the TLB
 * path) must give the same outcome and A/D updates. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "mmu.h"

static const char walk_usage[] =
    "usage: mmu walk [--step N] FILE.vec ID\n"
    "       mmu walk --ram FILE[@GPA]... --cr3 X [REGISTERS] [ACCESS] VADDR\n"
    "\n"
    "Explains one translation level by level: the linear address split into\n"
    "table indices, each paging entry (address, value, flags, reserved bits\n"
    "that fired), then the physical address and page size, or the fault\n"
    "with its error code decoded, and the A/D bits the walk set. The walk is\n"
    "the library's reference walker; mmu_translate must agree with it.\n"
    "Every mode: 4- and 5-level paging (EFER.LMA=1), PAE paging (LMA=0,\n"
    "CR4.PAE=1), 32-bit paging (LMA=0, PAE=0), paging off (CR0.PG=0).\n"
    "\n"
    "From a conformance vector:\n"
    "  --step N           explain step N (numbered from 0, as mmu conform\n"
    "                     reports it; default: the first access step)\n"
    "From guest RAM:\n"
    "  --ram FILE[@GPA]   FILE's bytes at guest-physical GPA (default 0, a\n"
    "                     multiple of 4096, K/M/G allowed); up to 8 times\n"
    "  --cr3 X            CR3, the top-level table; PAE paging loads the\n"
    "                     PDPTE registers from it as a MOV to CR3 does, #GP\n"
    "                     for a reserved bit (required unless CR0.PG=0)\n"
    "  --cr0 X            CR0 (default 0x80010001: PG WP PE; 0x1 paging off)\n"
    "  --cr4 X            CR4 (default 0x20: PAE; PSE 0x10, LA57 0x1000,\n"
    "                     SMEP 0x100000, SMAP 0x200000, PKE 0x400000)\n"
    "  --efer X           EFER (default 0xd00: NXE LMA LME; outside long mode\n"
    "                     0, or 0x800 for NXE)\n"
    "  --cpl N            current privilege level 0-3 (default 0)\n"
    "  --pkru X           PKRU (default 0)\n"
    "  --ac               EFLAGS.AC=1 (lifts SMAP for explicit accesses)\n"
    "  --maxphyaddr N     physical-address width 36-52 (default 52)\n"
    "  --no-1g            no 1 GiB pages: PS in a PDPTE is reserved\n"
    "  --amd              AMD: bit 8 of a PML5E/PML4E is reserved\n"
    "  --ad-on-fault      a faulting walk sets A above the faulting level\n"
    "  --read, --write, --fetch   the access (default --read)\n"
    "  --implicit         an implicit supervisor-mode access (GDT, IDT...)\n"
    "\n"
    "exit status: 0 explained (a fault too, and a PDPTE load's #GP), 1 the\n"
    "TLB path (or the vector, or mmu_write_cr3) disagrees with the reference\n"
    "walker, 2 bad usage or input (FILE:LINE: why).\n";

#define WALK_MAX_RAM 8

/* ---- the access and the machine it runs on ------------------------------ */

typedef struct walk_ram {
  const char *path;
  uint64_t gpa;
  void *block; /* what to free */
} walk_ram;

typedef struct walk_job {
  mmu_cpu *cpu;
  const mmu_ram_region *ram;
  uint32_t ram_count;
  uint64_t vaddr;
  unsigned access;
  const vec_step *vector_step; /* the vector's expectation, or NULL */
  const char *departs;         /* the vector's departure, or "" */
  int cr3_written; /* this command wrote CR3 (PAE: it loaded the PDPTEs) */
  int cr3_status;  /* and what mmu_write_cr3 returned */
  int vector_agrees; /* nested vectors: the reference walker agrees with */
                     /* the vector up to this step (check.c says) */
} walk_job;

/* What one path did: its outcome and the entries' values after it. */
typedef struct walk_outcome {
  int status;
  mmu_result result;
  uint64_t after[5]; /* at the trace's entries */
  uint8_t *ram_after; /* nested paging: all of RAM after it (malloc'd) */
} walk_outcome;

/* SDM 4.1.1, Table 4-1: the paging mode the registers select. */
typedef enum walk_mode {
  WALK_OFF,
  WALK_BITS32,
  WALK_PAE,
  WALK_LEVEL4,
  WALK_LEVEL5
} walk_mode;

static walk_mode walk_mode_of(const mmu_regs *r) {
  if (!(r->cr0 & MMU_CR0_PG))
    return WALK_OFF;
  if (r->efer & MMU_EFER_LMA)
    return (r->cr4 & MMU_CR4_LA57) ? WALK_LEVEL5 : WALK_LEVEL4;
  return (r->cr4 & MMU_CR4_PAE) ? WALK_PAE : WALK_BITS32;
}

static unsigned walk_levels(walk_mode mode) {
  static const unsigned levels[] = {0, 2, 3, 4, 5};
  return levels[mode];
}

/* 32-bit paging's entries are 4 bytes wide, every other mode's 8. */
static unsigned walk_entry_size(walk_mode mode) {
  return mode == WALK_BITS32 ? 4 : 8;
}

/* The PAE PDPTE is a register (SDM 4.4.1): no rights, no A flag. */
static int walk_is_register(walk_mode mode, unsigned level) {
  return mode == WALK_PAE && level == 3;
}

static const char *const walk_entry_names[6] = {"", "PTE", "PDE", "PDPTE",
                                                "PML4E", "PML5E"};
static const char *const walk_table_names[6] = {
    "", "page table", "page directory", "page-directory-pointer table",
    "PML4 table", "PML5 table"};
static const char *const walk_index_names[6] = {"", "PT", "PD", "PDPT", "PML4",
                                                "PML5"};

/* Bit lo of the linear address is where level's index starts, and the
 * size of a page that level maps is 1 << lo (SDM 4.3-4.5). */
static void walk_index_bits(walk_mode mode, unsigned level, unsigned *hi,
                            unsigned *lo) {
  if (mode == WALK_BITS32) {
    *lo = 12 + 10 * (level - 1);
    *hi = *lo + 9;
  } else if (walk_is_register(mode, level)) {
    *lo = 30;
    *hi = 31;
  } else {
    *lo = 12 + 9 * (level - 1);
    *hi = *lo + 8;
  }
}

static uint64_t walk_page_size(walk_mode mode, unsigned level) {
  unsigned hi, lo;
  walk_index_bits(mode, level, &hi, &lo);
  return 1ull << lo;
}

static const char *walk_access_name(unsigned access) {
  if (access & MMU_FETCH)
    return "fetch";
  return (access & MMU_WRITE) ? "write" : "read";
}

static const char *walk_page_size_name(uint64_t size) {
  return size == (1ull << 30)   ? "1 GiB"
         : size == (1ull << 22) ? "4 MiB"
         : size == (1ull << 21) ? "2 MiB"
                                : "4 KiB";
}

/* Guest RAM as the walk sees it (size bytes at gpa), for the A/D
 * comparison; NULL outside it. */
static uint8_t *walk_ram_at(const walk_job *job, uint64_t gpa, unsigned size) {
  for (uint32_t i = 0; i < job->ram_count; i++) {
    const mmu_ram_region *r = &job->ram[i];
    if (gpa >= r->gpa && gpa - r->gpa <= r->size - size)
      return (uint8_t *)r->host + (gpa - r->gpa);
  }
  return NULL;
}

/* An entry of size bytes (4 or 8) in guest RAM: 1 and its value, or 0. */
static int walk_ram_read(const walk_job *job, uint64_t gpa, unsigned size,
                         uint64_t *value) {
  const uint8_t *p = walk_ram_at(job, gpa, size);
  if (!p)
    return 0;
  uint32_t narrow;
  if (size == 4) {
    memcpy(&narrow, p, 4);
    *value = narrow;
  } else {
    memcpy(value, p, 8);
  }
  return 1;
}

static void walk_ram_write(const walk_job *job, uint64_t gpa, unsigned size,
                           uint64_t value) {
  uint8_t *p = walk_ram_at(job, gpa, size);
  uint32_t narrow = (uint32_t)value;
  if (p)
    memcpy(p, size == 4 ? (const void *)&narrow : (const void *)&value, size);
}

/* "51:46, 40" for the set bits of mask, runs as hi:lo. */
static void walk_bit_list(uint64_t mask, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  for (int hi = 63; hi >= 0 && used < n; hi--) {
    if (!((mask >> hi) & 1))
      continue;
    int lo = hi;
    while (lo > 0 && ((mask >> (lo - 1)) & 1))
      lo--;
    int k = lo == hi ? snprintf(buf + used, n - used, "%s%d", used ? ", " : "", hi)
                     : snprintf(buf + used, n - used, "%s%d:%d", used ? ", " : "", hi, lo);
    if (k > 0)
      used += (size_t)k;
    hi = lo;
  }
}

/* Bits hi:lo set. */
static uint64_t walk_bits(unsigned hi, unsigned lo) {
  return (hi >= 63 ? ~0ull : (1ull << (hi + 1)) - 1) & ~((1ull << lo) - 1);
}

/* The bits of an entry that hold the next table's or the page's frame:
 * 31:12 in 32-bit paging, MAXPHYADDR-1:12 otherwise. */
static uint64_t walk_frame_mask(const mmu_cpu *cpu, walk_mode mode) {
  unsigned m = cpu->maxphyaddr < 52 ? cpu->maxphyaddr : 52;
  return mode == WALK_BITS32 ? walk_bits(31, 12) : walk_bits(m - 1, 12);
}

/* M' of SDM 4.3: a 4 MiB page reaches physical bits M'-1:32 (PSE-36). */
static unsigned walk_pse36_width(const mmu_cpu *cpu) {
  return cpu->maxphyaddr < 40 ? cpu->maxphyaddr : 40;
}

/* Does this entry map a page? (PS in a PDE needs CR4.PSE in 32-bit
 * paging; the PAE PDPTE register never maps one.) */
static int walk_is_leaf(const mmu_cpu *cpu, walk_mode mode, unsigned level,
                        uint64_t entry) {
  if (level == 1)
    return 1;
  if (!(entry & MMU_PTE_PS) || walk_is_register(mode, level))
    return 0;
  if (mode == WALK_BITS32)
    return level == 2 && (cpu->regs.cr4 & MMU_CR4_PSE);
  return level <= 3;
}

/* The frame of the page an entry at level maps (SDM 4.3: a 4 MiB page's
 * bits 39:32 come from PDE bits 20:13). */
static uint64_t walk_page_frame(const mmu_cpu *cpu, walk_mode mode,
                                unsigned level, uint64_t entry) {
  if (mode == WALK_BITS32 && level == 2)
    return (entry & walk_bits(31, 22)) | ((entry >> 13) & 0xFF) << 32;
  return entry & walk_frame_mask(cpu, mode) & ~(walk_page_size(mode, level) - 1);
}

/* ---- the figure of the linear address ----------------------------------- */

typedef struct walk_field {
  unsigned hi, lo;
  const char *name;
  char value[24];
} walk_field;

/* The linear address cut as mode cuts it for a page mapped at leaf_level:
 * the sign bits above a canonical address (IA-32e), each level's index,
 * the offset. */
static void walk_figure(walk_mode mode, uint64_t vaddr, unsigned leaf_level) {
  walk_field f[7];
  unsigned n = 0;
  unsigned levels = walk_levels(mode);
  if (mode >= WALK_LEVEL4) {
    unsigned width = mode == WALK_LEVEL5 ? 57 : 48;
    f[n].hi = 63;
    f[n].lo = width;
    f[n].name = "sign";
    snprintf(f[n].value, sizeof f[n].value, "0x%llx",
             (unsigned long long)(vaddr >> width));
    n++;
  }
  for (unsigned level = levels; level >= leaf_level; level--, n++) {
    walk_index_bits(mode, level, &f[n].hi, &f[n].lo);
    /* PAE: bits 31:30 pick a PDPTE register, not a table entry */
    f[n].name = walk_is_register(mode, level) ? "PDPTE" : walk_index_names[level];
    snprintf(f[n].value, sizeof f[n].value, "%llu",
             (unsigned long long)((vaddr >> f[n].lo) &
                                  walk_bits(f[n].hi - f[n].lo, 0)));
  }
  f[n].hi = f[n - 1].lo - 1;
  f[n].lo = 0;
  f[n].name = "offset";
  snprintf(f[n].value, sizeof f[n].value, "0x%llx",
           (unsigned long long)(vaddr & walk_bits(f[n].hi, 0)));
  n++;

  unsigned w[7];
  for (unsigned i = 0; i < n; i++) {
    size_t need = strlen(f[i].value) > strlen(f[i].name) ? strlen(f[i].value)
                                                         : strlen(f[i].name);
    w[i] = (unsigned)need + 4 < 9 ? 9 : (unsigned)need + 4;
  }
  printf("  ");
  for (unsigned i = 0; i < n; i++) {
    char hi[4], lo[4];
    snprintf(hi, sizeof hi, "%u", f[i].hi);
    snprintf(lo, sizeof lo, "%u", f[i].lo);
    printf(" %-*s%s", (int)(w[i] - strlen(lo)), hi, lo);
  }
  printf("\n  ");
  for (unsigned i = 0; i < n; i++)
    printf("+%.*s", (int)w[i], "----------------------------");
  printf("+\n");
  for (int row = 0; row < 2; row++) {
    printf("  ");
    for (unsigned i = 0; i < n; i++) {
      const char *s = row ? f[i].value : f[i].name;
      int pad = (int)(w[i] - strlen(s));
      printf("|%*s%s%*s", pad / 2, "", s, pad - pad / 2, "");
    }
    printf("|\n");
  }
  printf("  ");
  for (unsigned i = 0; i < n; i++)
    printf("+%.*s", (int)w[i], "----------------------------");
  printf("+\n");
}

/* ---- one paging entry --------------------------------------------------- */

/* Reserved bits of a present entry that fired, one reason per line into
 * buf (SDM 4.3-4.5: Tables 4-4, 4-8 to 4-11, 4-15 to 4-20; APM for AMD's
 * bit 8). The PAE PDPTE's are those its load checks. Returns 1 if any
 * did. */
static int walk_reserved(const mmu_cpu *cpu, walk_mode mode, unsigned level,
                         uint64_t entry, char *buf, size_t n) {
  size_t used = 0;
  char bits[64];
  buf[0] = 0;
#define WALK_SAY(...)                                                        \
  do {                                                                       \
    int k_ = snprintf(buf + used, n - used, __VA_ARGS__);                    \
    if (k_ > 0 && (size_t)k_ < n - used)                                     \
      used += (size_t)k_;                                                    \
  } while (0)
  unsigned m = cpu->maxphyaddr;
  int ps = (entry & MMU_PTE_PS) != 0;
  if (mode == WALK_BITS32) {
    /* only a 4 MiB PDE has any: 21:M'-19, above PSE-36's bits */
    unsigned pm = walk_pse36_width(cpu);
    uint64_t mask = walk_bits(21, pm - 19);
    if (walk_is_leaf(cpu, mode, level, entry) && level == 2 && (entry & mask)) {
      walk_bit_list(entry & mask, bits, sizeof bits);
      WALK_SAY("bit %s: reserved in a 4 MiB PDE (bits 21:%u; bits %u:13 are "
               "physical bits %u:32, MAXPHYADDR %u)\n", bits, pm - 19,
               pm - 20, pm - 1, m);
    }
    return used > 0;
  }
  if (walk_is_register(mode, level)) {
    uint64_t low = entry & (walk_bits(2, 1) | walk_bits(8, 5));
    if (low) {
      walk_bit_list(low, bits, sizeof bits);
      WALK_SAY("bit %s: reserved in a PDPTE (bits 2:1 and 8:5: it has no W, U, "
               "A, D, PS or G)\n", bits);
    }
    if (entry & walk_bits(63, m)) {
      walk_bit_list(entry & walk_bits(63, m), bits, sizeof bits);
      WALK_SAY("bit %s: at or above MAXPHYADDR %u (bits 63:%u are reserved in "
               "a PDPTE: it has no XD)\n", bits, m, m);
    }
    return used > 0;
  }
  /* PAE entries have no ignored bits between MAXPHYADDR and XD */
  unsigned top = mode == WALK_PAE ? 62 : 51;
  uint64_t above = m <= top ? entry & walk_bits(top, m) : 0;
  if (above) {
    walk_bit_list(above, bits, sizeof bits);
    WALK_SAY("bit %s: at or above MAXPHYADDR %u (bits %u:%u are reserved%s)\n",
             bits, m, top, m, mode == WALK_PAE ? " in PAE paging" : "");
  }
  if ((entry & MMU_PTE_XD) && !(cpu->regs.efer & MMU_EFER_NXE))
    WALK_SAY("bit 63 (XD): reserved while EFER.NXE=0\n");
  if (level >= 4 && ps)
    WALK_SAY("bit 7 (PS): a %s cannot map a page\n", walk_entry_names[level]);
  if (level == 3 && ps && (cpu->flags & MMU_CFG_NO_1G_PAGES))
    WALK_SAY("bit 7 (PS): this CPU has no 1 GiB pages (CPUID Page1GB=0)\n");
  else if (level == 3 && ps && (entry & walk_bits(29, 13))) {
    walk_bit_list(entry & walk_bits(29, 13), bits, sizeof bits);
    WALK_SAY("bit %s: a 1 GiB page's frame is 1 GiB aligned (bits 29:13 "
             "are reserved)\n", bits);
  }
  if (level == 2 && ps && (entry & walk_bits(20, 13))) {
    walk_bit_list(entry & walk_bits(20, 13), bits, sizeof bits);
    WALK_SAY("bit %s: a 2 MiB page's frame is 2 MiB aligned (bits 20:13 "
             "are reserved)\n", bits);
  }
  if ((cpu->flags & MMU_CFG_AMD) && level >= 4 && (entry & MMU_PTE_G))
    WALK_SAY("bit 8: reserved in a %s on AMD\n", walk_entry_names[level]);
#undef WALK_SAY
  return used > 0;
}

/* Prints the reasons walk_reserved wrote, under a heading. */
static void walk_say_reserved(const char *heading, char *why) {
  printf("      %s\n", heading);
  for (char *line = strtok(why, "\n"); line; line = strtok(NULL, "\n"))
    printf("        %s\n", line);
}

/* "PDE[81]    at 0x102288 = 0x0000000000103007", 4-byte entries as such. */
static void walk_entry_line(walk_mode mode, const mmu_walk_step *s) {
  unsigned size = walk_entry_size(mode);
  char name[16];
  snprintf(name, sizeof name, "%s[%u]", walk_entry_names[s->level],
           (unsigned)((s->entry_gpa & 0xFFF) / size));
  printf("%-10s at 0x%llx = 0x%0*llx\n", name,
         (unsigned long long)s->entry_gpa, (int)(2 * size),
         (unsigned long long)s->entry);
}

/* A present PDPTE's flags (it has no others: SDM 4.4.1, Table 4-8). */
static void walk_pdpte_flags(uint64_t e, const char *tail) {
  printf("      P PWT PCD\n      %d  %d   %d%s\n", (int)(e & 1),
         (int)((e >> 3) & 1), (int)((e >> 4) & 1), tail);
}

/* The PAE PDPTE register the walk starts from (SDM 4.4.1): bits 31:30 of
 * the address pick it; it was read from memory when it was loaded. */
static int walk_pdpte_register(const walk_job *job, const mmu_walk_step *s) {
  uint64_t e = s->entry, now;
  const int npt = job->cpu->nested.kind == MMU_NESTED_NPT;
  if (npt) /* no register: each walk reads it (SPEC 10.4) */
    printf("PDPTE[%u]   at 0x%llx = 0x%016llx, read by this walk through "
           "the nested tables\n", (unsigned)((s->entry_gpa >> 3) & 3),
           (unsigned long long)s->entry_gpa, (unsigned long long)e);
  else
    printf("PDPTE register %u = 0x%016llx, loaded from 0x%llx\n",
           (unsigned)((s->entry_gpa >> 3) & 3), (unsigned long long)e,
           (unsigned long long)s->entry_gpa);
  char tail[64];
  snprintf(tail, sizeof tail, "   -> page directory at 0x%llx",
           (unsigned long long)(e & walk_frame_mask(job->cpu, WALK_PAE)));
  uint64_t rsvd = walk_bits(2, 1) | walk_bits(8, 5) |
                  walk_bits(63, job->cpu->maxphyaddr);
  if (!(e & MMU_PTE_P))
    printf("      P=0: not present, the walk stops here\n");
  else if (npt && (e & rsvd)) {
    char why[128];
    walk_bit_list(e & rsvd, why, sizeof why);
    walk_pdpte_flags(e, "");
    printf("      reserved bits set (%s; SDM 4.4.1 Table 4-8): under NPT a "
           "#PF with RSVD, the walk stops here\n", why);
  } else
    walk_pdpte_flags(e, tail);
  if (npt) {
    printf("      under nested paging (NPT) no PDPTE register is loaded: each "
           "walk reads it, no A flag\n");
    return (e & MMU_PTE_P) && (e & rsvd);
  }
  printf("      a register: a change to it in memory is not seen until the "
         "next MOV to CR3\n");
  if (walk_ram_read(job, s->entry_gpa, 8, &now) && now != e)
    printf("      (memory there now holds 0x%016llx: not loaded yet)\n",
           (unsigned long long)now);
  return 0;
}

static void walk_entry(const walk_job *job, walk_mode mode,
                       const mmu_walk_step *s, uint64_t after,
                       int *reserved_fired) {
  const mmu_cpu *cpu = job->cpu;
  unsigned level = s->level;
  uint64_t e = s->entry;
  if (walk_is_register(mode, level)) {
    *reserved_fired |= walk_pdpte_register(job, s);
    return;
  }
  walk_entry_line(mode, s);
  if (!(e & MMU_PTE_P)) {
    printf("      P=0: not present, the walk stops here\n");
    return;
  }
  int leaf = walk_is_leaf(cpu, mode, level, e);
  /* protection keys are IA-32e paging's; 32-bit paging has no XD */
  int pke = (cpu->regs.cr4 & MMU_CR4_PKE) && mode >= WALK_LEVEL4;
  int xd = mode != WALK_BITS32;
  const char *bit7 = level == 1 ? "PAT" : "PS";
  printf("      P W U PWT PCD A D %-3s G%s%s\n", bit7, xd ? " XD" : "",
         leaf && pke ? "  PK" : "");
  printf("      %d %d %d  %d   %d  %d %d  %d  %d", (int)(e & 1),
         (int)((e >> 1) & 1), (int)((e >> 2) & 1), (int)((e >> 3) & 1),
         (int)((e >> 4) & 1), (int)((e >> 5) & 1), (int)((e >> 6) & 1),
         (int)((e >> 7) & 1), (int)((e >> 8) & 1));
  if (xd)
    printf("  %d", (int)(e >> 63));
  if (leaf && pke)
    printf(" %3u", (unsigned)((e >> MMU_PTE_PKEY_SHIFT) & 15));
  char why[512];
  if (walk_reserved(cpu, mode, level, e, why, sizeof why)) {
    *reserved_fired = 1;
    printf("\n");
    walk_say_reserved("reserved bits set, the walk stops here:", why);
  } else if (leaf) {
    printf("   -> %s page at 0x%llx\n",
           walk_page_size_name(walk_page_size(mode, level)),
           (unsigned long long)walk_page_frame(cpu, mode, level, e));
    if (mode == WALK_BITS32 && level == 2) {
      unsigned pm = walk_pse36_width(cpu);
      printf("      PSE-36: bits %u:13 = 0x%llx: physical bits %u:32\n",
             pm - 20, (unsigned long long)((e >> 13) & walk_bits(pm - 33, 0)),
             pm - 1);
    }
  } else {
    printf("   -> %s at 0x%llx\n", walk_table_names[level - 1],
           (unsigned long long)(e & walk_frame_mask(cpu, mode)));
    if (mode == WALK_BITS32 && (e & MMU_PTE_PS))
      printf("      PS=1 is ignored: CR4.PSE=0, the PDE points to a page "
             "table\n");
  }
  if (after != e)
    printf("      the walk set %s%s%s: now 0x%0*llx\n",
           (after & ~e & MMU_PTE_A) ? "A" : "",
           (after & ~e & MMU_PTE_A) && (after & ~e & MMU_PTE_D) ? " and " : "",
           (after & ~e & MMU_PTE_D) ? "D" : "",
           (int)(2 * walk_entry_size(mode)), (unsigned long long)after);
}

/* ---- why an access was denied (SDM 4.6) --------------------------------- */

/* The entries that give rights (SDM 4.6: every one but the PAE PDPTE
 * register) combined: bits set in all of them, and in any. */
static void walk_combine(walk_mode mode, const mmu_trace *t, uint64_t *all,
                         uint64_t *any) {
  *all = ~0ull;
  *any = 0;
  for (uint32_t i = 0; i < t->count; i++)
    if (!walk_is_register(mode, t->step[i].level)) {
      *all &= t->step[i].entry;
      *any |= t->step[i].entry;
    }
}

/* The entries of the walk whose bit (mask) is clear (want 0) or set. */
static void walk_levels_with(walk_mode mode, const mmu_trace *t, uint64_t mask,
                             int set, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  for (uint32_t i = 0; i < t->count; i++)
    if (!walk_is_register(mode, t->step[i].level) &&
        ((t->step[i].entry & mask) != 0) == set) {
      int k = snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                       walk_entry_names[t->step[i].level]);
      if (k > 0 && (size_t)k < n - used)
        used += (size_t)k;
    }
}

/* XD counts in PAE and IA-32e paging with EFER.NXE=1 (SDM 4.6). */
static int walk_has_xd(const mmu_cpu *cpu, walk_mode mode) {
  return mode != WALK_BITS32 && (cpu->regs.efer & MMU_EFER_NXE);
}

static void walk_why_protection(const mmu_cpu *cpu, walk_mode mode,
                                const mmu_trace *t, unsigned access,
                                uint32_t ec) {
  const mmu_regs *r = &cpu->regs;
  int fetch = (access & MMU_FETCH) != 0;
  int write = (access & MMU_WRITE) && !fetch;
  int implicit = (access & MMU_IMPLICIT) != 0;
  int user_access = r->cpl == 3 && !implicit;
  uint64_t all, any;
  walk_combine(mode, t, &all, &any);
  int user_page = (all & MMU_PTE_U) != 0, writable = (all & MMU_PTE_W) != 0;
  char where_u[64], where_w[64], where_xd[64];
  walk_levels_with(mode, t, MMU_PTE_U, 0, where_u, sizeof where_u);
  walk_levels_with(mode, t, MMU_PTE_W, 0, where_w, sizeof where_w);
  walk_levels_with(mode, t, MMU_PTE_XD, 1, where_xd, sizeof where_xd);
  const char *mode_name = user_access ? "user-mode" : "supervisor-mode";
  if (ec & MMU_PFEC_PK) {
    uint64_t leaf = t->step[t->count - 1].entry;
    unsigned key = (unsigned)(leaf >> MMU_PTE_PKEY_SHIFT) & 15;
    int ad = (r->pkru >> (2 * key)) & 1;
    printf("  why: the page has protection key %u and PKRU.%s%u=1 (%s)\n", key,
           ad ? "AD" : "WD", key, ad ? "access disabled" : "write disabled");
    return;
  }
  if (fetch && walk_has_xd(cpu, mode) && (any & MMU_PTE_XD))
    printf("  why: an instruction fetch from a page with XD=1 (in the %s)\n",
           where_xd);
  else if (fetch && user_access && !user_page)
    printf("  why: a user-mode fetch from a supervisor page: U=0 in the %s\n",
           where_u);
  else if (fetch)
    printf("  why: a supervisor-mode fetch from a user page with CR4.SMEP=1\n");
  else if (user_access && !user_page)
    printf("  why: a user-mode %s of a supervisor page: U=0 in the %s\n",
           write ? "write" : "read", where_u);
  else if (user_access)
    printf("  why: a user-mode write to a read-only page: W=0 in the %s\n",
           where_w);
  else if (user_page && (r->cr4 & MMU_CR4_SMAP) && (implicit || !r->ac))
    printf("  why: a supervisor-mode %s of a user page with CR4.SMAP=1 and %s\n",
           write ? "write" : "read",
           implicit ? "an implicit access (EFLAGS.AC does not lift it)"
                    : "EFLAGS.AC=0");
  else if (!writable)
    printf("  why: a %s write to a read-only page with CR0.WP=1: W=0 in the %s\n",
           mode_name, where_w);
  else
    printf("  why: (no rule of SDM 4.6 this tool knows explains it)\n");
}

/* The rights the entries give together (SDM 4.6: W and U must be 1 in
 * every entry, XD in any one forbids fetches). */
static void walk_rights(const mmu_cpu *cpu, walk_mode mode, const mmu_trace *t) {
  uint64_t all, any;
  walk_combine(mode, t, &all, &any);
  char where[64];
  printf("Rights over the walk%s:\n",
         mode == WALK_PAE ? " (a PAE PDPTE gives none)" : "");
  walk_levels_with(mode, t, MMU_PTE_U, 0, where, sizeof where);
  if (all & MMU_PTE_U)
    printf("  user page (U=1 in every entry)\n");
  else
    printf("  supervisor page (U=0 in the %s)\n", where);
  walk_levels_with(mode, t, MMU_PTE_W, 0, where, sizeof where);
  if (all & MMU_PTE_W)
    printf("  writable (W=1 in every entry)\n");
  else
    printf("  read-only (W=0 in the %s)\n", where);
  walk_levels_with(mode, t, MMU_PTE_XD, 1, where, sizeof where);
  if (mode == WALK_BITS32)
    printf("  executable (32-bit paging has no XD bit)\n");
  else if (!(cpu->regs.efer & MMU_EFER_NXE))
    printf("  executable (EFER.NXE=0)\n");
  else if (any & MMU_PTE_XD)
    printf("  not executable (XD=1 in the %s)\n", where);
  else
    printf("  executable (XD=0 in every entry)\n");
  if ((cpu->regs.cr4 & MMU_CR4_PKE) && mode >= WALK_LEVEL4 &&
      (all & MMU_PTE_U)) {
    unsigned key = (unsigned)(t->step[t->count - 1].entry >> MMU_PTE_PKEY_SHIFT) & 15;
    printf("  protection key %u: PKRU AD%u=%u WD%u=%u\n", key, key,
           (cpu->regs.pkru >> (2 * key)) & 1, key,
           (cpu->regs.pkru >> (2 * key + 1)) & 1);
  }
}

/* What a clear I/D bit says (SDM 4.7): it is set only for a fetch, and
 * then only with CR4.SMEP=1 or EFER.NXE=1 in a mode with XD; 32-bit
 * paging has none, so there only SMEP sets it. */
static const char *walk_id_clear(walk_mode mode, int fetch) {
  if (mode != WALK_BITS32)
    return "not a fetch (or EFER.NXE=0 and CR4.SMEP=0)";
  return fetch ? "a fetch, but CR4.SMEP=0 (32-bit paging has no XD: EFER.NXE "
                 "does not set it)"
               : "not a fetch (32-bit paging: a fetch sets it only with "
                 "CR4.SMEP=1)";
}

static void walk_error_code(walk_mode mode, int fetch, uint32_t ec,
                            uint64_t cr2) {
  static const struct {
    uint32_t bit;
    const char *name, *set, *clear;
  } bits[] = {
      {MMU_PFEC_P, "P", "the page is present: a protection violation",
       "the page is not present"},
      {MMU_PFEC_W, "W", "a write", "a read (or fetch)"},
      {MMU_PFEC_U, "U", "a user-mode access", "a supervisor-mode access"},
      {MMU_PFEC_RSVD, "RSVD", "a reserved bit was set in a paging entry",
       "no reserved bit set"},
      {MMU_PFEC_ID, "ID", "an instruction fetch", NULL},
      {MMU_PFEC_PK, "PK", "a protection-key violation",
       "no protection-key violation"},
  };
  printf("  error code 0x%x (SDM 4.7):\n", ec);
  for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++) {
    int set = (ec & bits[i].bit) != 0;
    const char *meaning = set ? bits[i].set : bits[i].clear;
    if (bits[i].bit == MMU_PFEC_P && (ec & MMU_PFEC_RSVD))
      meaning = "the entry is present (its reserved bits faulted)";
    if (bits[i].bit == MMU_PFEC_ID && !set)
      meaning = walk_id_clear(mode, fetch);
    printf("    bit %u %-4s = %d  %s\n", i, bits[i].name, set, meaning);
  }
  /* outside IA-32e mode CR2 holds the 32-bit linear address */
  printf("  CR2 = 0x%0*llx\n", mode >= WALK_LEVEL4 ? 16 : 8,
         (unsigned long long)cr2);
}

/* ---- both paths, and the explanation ------------------------------------ */

static void walk_outcome_text(char *buf, size_t n, int status,
                              const mmu_result *r) {
  vec_outcome o = vec_outcome_of(status, r);
  if (o.kind != VEC_OUT_NONE)
    vec_outcome_text(buf, n, &o);
  else if (status == MMU_ERR_PT_BUS)
    snprintf(buf, n, "%s at 0x%llx", mmu_status_name(status),
             (unsigned long long)r->paddr);
  else
    snprintf(buf, n, "%s", mmu_status_name(status));
}

static int walk_same_outcome(const walk_outcome *a, const walk_outcome *b,
                             uint32_t entries, uint64_t ram_size) {
  if (a->status != b->status)
    return 0;
  if (a->ram_after || b->ram_after) /* nested: every entry of RAM */
    return a->ram_after && b->ram_after &&
           memcmp(a->ram_after, b->ram_after, ram_size) == 0 &&
           (a->status != MMU_OK || (a->result.paddr == b->result.paddr &&
                                    a->result.page_size == b->result.page_size)) &&
           a->result.gpa == b->result.gpa && a->result.exit_qual == b->result.exit_qual &&
           a->result.error_code == b->result.error_code;
  for (uint32_t i = 0; i < entries; i++)
    if (a->after[i] != b->after[i])
      return 0;
  switch (a->status) {
  case MMU_OK:
    return a->result.paddr == b->result.paddr &&
           a->result.page_size == b->result.page_size;
  case MMU_PAGE_FAULT:
    return a->result.error_code == b->result.error_code &&
           a->result.cr2 == b->result.cr2;
  case MMU_ERR_PT_BUS:
    return a->result.paddr == b->result.paddr;
  default:
    return 1;
  }
}

/* Where the guest entry of `level` was read: the leaf of its nested walk
 * in the trace (an EPT or NPT leaf: level 1, or PS at 2 or 3) gives the
 * frame; 1 with *hpa, 0 when the trace holds no such walk. */
static int walk_nested_hpa(const walk_job *job, const mmu_trace *t,
                           unsigned level, uint64_t *hpa) {
  uint64_t mask = walk_frame_mask(job->cpu, WALK_LEVEL4);
  for (uint32_t i = 0; i < t->nested_count; i++) {
    const mmu_nested_step *n = &t->nested[i];
    if (n->for_level != level ||
        !(n->level == 1 || ((n->level == 2 || n->level == 3) &&
                            (n->entry & MMU_PTE_PS))))
      continue;
    uint64_t size = 1ull << (12 + 9 * (n->level - 1));
    *hpa = (n->entry & mask & ~(size - 1)) | (n->gpa & (size - 1));
    return 1;
  }
  return 0;
}

/* Runs one path and records the entries of trace t after it, then puts
 * them back as they were, so that the other path starts alike. */
static void walk_run(const walk_job *job, int reference, mmu_trace *t,
                     walk_outcome *o) {
  walk_mode mode = walk_mode_of(&job->cpu->regs);
  unsigned size = walk_entry_size(mode);
  memset(o, 0, sizeof *o);
  if (job->cpu->nested.kind != MMU_NESTED_OFF) {
    /* A/D land in both dimensions' entries at host-physical addresses:
     * keep all of RAM after the run, then put it back as it was */
    const mmu_ram_region *ram = job->ram;
    uint8_t *before = malloc(ram->size);
    o->ram_after = malloc(ram->size);
    if (before)
      memcpy(before, ram->host, ram->size);
    o->status = reference ? mmu_reference_translate(job->cpu, job->vaddr,
                                                    job->access, &o->result, t)
                          : mmu_translate(job->cpu, job->vaddr, job->access,
                                          &o->result);
    if (o->ram_after)
      memcpy(o->ram_after, ram->host, ram->size);
    if (before)
      memcpy(ram->host, before, ram->size);
    free(before);
    /* each guest entry after the run, at the hpa its gpa went to */
    for (uint32_t i = 0; i < t->count; i++) {
      const mmu_walk_step *s = &t->step[i];
      uint64_t hpa;
      o->after[i] = s->entry;
      if (o->ram_after && !walk_is_register(mode, s->level) &&
          walk_nested_hpa(job, t, s->level, &hpa) &&
          hpa >= ram->gpa && hpa - ram->gpa <= ram->size - size) {
        uint32_t narrow;
        if (size == 4) {
          memcpy(&narrow, o->ram_after + (hpa - ram->gpa), 4);
          o->after[i] = narrow;
        } else {
          memcpy(&o->after[i], o->ram_after + (hpa - ram->gpa), 8);
        }
      }
    }
    return;
  }
  o->status = reference ? mmu_reference_translate(job->cpu, job->vaddr,
                                                  job->access, &o->result, t)
                        : mmu_translate(job->cpu, job->vaddr, job->access,
                                        &o->result);
  for (uint32_t i = 0; i < t->count; i++) {
    const mmu_walk_step *s = &t->step[i];
    o->after[i] = s->entry;
    /* a PDPTE register is not memory: what is there may differ */
    if (!walk_is_register(mode, s->level) &&
        walk_ram_read(job, s->entry_gpa, size, &o->after[i]))
      walk_ram_write(job, s->entry_gpa, size, s->entry);
  }
}

/* The vector's expectation against the reference walker's outcome. */
static int walk_vector_agrees(const walk_job *job, const mmu_trace *t,
                              const walk_outcome *ref) {
  int ok = vec_outcome_matches(&job->vector_step->expect, ref->status,
                               &ref->result);
  /* A/D: the vector lists every entry the step changed, with its value */
  uint32_t changed = 0;
  for (uint32_t i = 0; i < t->count; i++) {
    if (ref->after[i] == t->step[i].entry)
      continue;
    changed++;
    int listed = 0;
    for (uint32_t k = 0; k < job->vector_step->ad_count; k++)
      listed |= job->vector_step->ad[k].gpa == t->step[i].entry_gpa &&
                job->vector_step->ad[k].value == ref->after[i];
    ok &= listed;
  }
  return ok && changed == job->vector_step->ad_count;
}

static void walk_registers(const mmu_cpu *cpu) {
  const mmu_regs *r = &cpu->regs;
  static const struct {
    int reg; /* 0 CR0, 1 CR4, 2 EFER */
    uint64_t bit;
    const char *name;
  } names[] = {
      {0, MMU_CR0_PG, "PG"},      {0, MMU_CR0_WP, "WP"},
      {0, MMU_CR0_PE, "PE"},      {1, MMU_CR4_PKE, "PKE"},
      {1, MMU_CR4_SMAP, "SMAP"},  {1, MMU_CR4_SMEP, "SMEP"},
      {1, MMU_CR4_PCIDE, "PCIDE"}, {1, MMU_CR4_LA57, "LA57"},
      {1, MMU_CR4_PGE, "PGE"},    {1, MMU_CR4_PAE, "PAE"},
      {1, MMU_CR4_PSE, "PSE"},    {2, MMU_EFER_NXE, "NXE"},
      {2, MMU_EFER_LMA, "LMA"},   {2, MMU_EFER_LME, "LME"},
  };
  const char *reg_names[3] = {"CR0", "CR4", "EFER"};
  const uint64_t values[3] = {r->cr0, r->cr4, r->efer};
  for (int reg = 0; reg < 3; reg++) {
    printf("%s%s 0x%llx", reg ? "  " : "", reg_names[reg],
           (unsigned long long)values[reg]);
    int first = 1;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
      if (names[i].reg == reg && (values[reg] & names[i].bit)) {
        printf("%s%s", first ? " (" : " ", names[i].name);
        first = 0;
      }
    printf("%s", first ? "" : ")");
  }
  printf("\nCR3 0x%llx  PKRU 0x%x  EFLAGS.AC %u  MAXPHYADDR %u\n",
         (unsigned long long)r->cr3, r->pkru, r->ac, cpu->maxphyaddr);
}

static const char *walk_mode_name(walk_mode mode) {
  static const char *const names[] = {"no paging", "32-bit paging",
                                      "PAE paging", "4-level paging",
                                      "5-level paging"};
  return names[mode];
}

/* Where the walk starts: CR3's table, or PAE's PDPTE registers. */
static void walk_show_cr3(const walk_job *job, walk_mode mode) {
  const mmu_regs *r = &job->cpu->regs;
  if (mode == WALK_PAE && job->cpu->nested.kind == MMU_NESTED_NPT)
    printf("CR3 0x%llx: the page-directory-pointer table at 0x%llx (CR3 "
           "bits 31:5), read at each walk under NPT\n\n",
           (unsigned long long)r->cr3,
           (unsigned long long)(r->cr3 & walk_bits(31, 5)));
  else if (mode == WALK_PAE && job->cpu->nested.kind == MMU_NESTED_EPT &&
           !job->cr3_written)
    printf("CR3 0x%llx: the four PDPTE registers, from the PDPT at 0x%llx "
           "(CR3 bits 31:5) as VM entry loaded them (the VMCS's guest PDPTE "
           "fields) or a MOV to CR through EPT\n\n",
           (unsigned long long)r->cr3,
           (unsigned long long)(r->cr3 & walk_bits(31, 5)));
  else if (mode == WALK_PAE)
    printf("CR3 0x%llx: %s four PDPTE registers from 0x%llx (CR3 bits "
           "31:5)\n\n", (unsigned long long)r->cr3,
           job->cr3_written ? "a MOV to CR3 loaded the" : "the last load read the",
           (unsigned long long)(r->cr3 & walk_bits(31, 5)));
  else
    printf("CR3 0x%llx: the %s is at 0x%llx\n\n", (unsigned long long)r->cr3,
           walk_table_names[walk_levels(mode)],
           (unsigned long long)(r->cr3 & walk_frame_mask(job->cpu, mode)));
}

/* The paging part: the address figure, each entry, the rights, and the
 * outcome when it is a fault. */
static void walk_show_walk(const walk_job *job, const mmu_trace *trace,
                           const walk_outcome *ref) {
  const mmu_cpu *cpu = job->cpu;
  walk_mode mode = walk_mode_of(&cpu->regs);
  unsigned levels = walk_levels(mode);
  uint64_t vaddr = mode >= WALK_LEVEL4 ? job->vaddr : (uint32_t)job->vaddr;
  const mmu_walk_step *last = trace->count ? &trace->step[trace->count - 1] : NULL;
  /* the figure cuts the address as the entry where the walk ended does,
   * when that entry maps a page */
  unsigned leaf_level = 1;
  if (last && (last->entry & MMU_PTE_P) &&
      walk_is_leaf(cpu, mode, last->level, last->entry))
    leaf_level = last->level;
  printf("%s; the linear address, cut for a %s page:\n\n", walk_mode_name(mode),
         walk_page_size_name(walk_page_size(mode, leaf_level)));
  walk_figure(mode, vaddr, leaf_level);
  printf("\n");
  if (ref->status == MMU_GP_FAULT) {
    unsigned top = levels == 5 ? 56 : 47;
    printf("Result: #GP(0), no walk: the address is not canonical (bits "
           "63:%u must all equal bit %u)\n", top, top);
    return;
  }
  walk_show_cr3(job, mode);
  int reserved_fired = 0;
  for (uint32_t i = 0; i < trace->count; i++)
    walk_entry(job, mode, &trace->step[i], ref->after[i], &reserved_fired);
  if (last && (last->entry & MMU_PTE_P) && !reserved_fired &&
      walk_is_leaf(cpu, mode, last->level, last->entry)) {
    printf("\n");
    walk_rights(cpu, mode, trace);
  }
  if (ref->status == MMU_ERR_PT_BUS) {
    /* the entry that could not be read is one level below the last traced */
    unsigned level = last ? last->level - 1u : levels;
    char name[16];
    snprintf(name, sizeof name, "%s[%u]", walk_entry_names[level],
             (unsigned)((ref->result.paddr & 0xFFF) / walk_entry_size(mode)));
    printf("%-10s at 0x%llx: outside guest RAM\n\n", name,
           (unsigned long long)ref->result.paddr);
    printf("Result: MMU_ERR_PT_BUS: the walk read a paging entry at 0x%llx, "
           "outside guest RAM\n  (an embedder's pt_read callback would be "
           "asked for it; no #PF is raised)\n",
           (unsigned long long)ref->result.paddr);
    return;
  }
  printf("\n");
  if (ref->status != MMU_PAGE_FAULT || !last)
    return;
  uint32_t ec = ref->result.error_code;
  const char *at = !walk_is_register(mode, last->level)
                       ? walk_entry_names[last->level]
                   : cpu->nested.kind == MMU_NESTED_NPT ? "PDPTE"
                                                        : "PDPTE register";
  if ((last->entry & MMU_PTE_P) && !(ec & MMU_PFEC_RSVD))
    printf("Result: #PF (page fault): the walk is complete, the access is "
           "not allowed\n");
  else
    printf("Result: #PF (page fault) at the %s\n", at);
  if (!(last->entry & MMU_PTE_P))
    printf("  why: P=0 in the %s: nothing is mapped there\n", at);
  else if (ec & MMU_PFEC_RSVD)
    printf("  why: %s in the %s (above)\n",
           reserved_fired ? "reserved bits set"
                          : "a reserved bit (no rule of this tool says which)",
           at);
  else
    walk_why_protection(cpu, mode, trace, job->access, ec);
  walk_error_code(mode, (job->access & MMU_FETCH) != 0, ec, ref->result.cr2);
}

/* Nested paging (SPEC 10): the second dimension's entries the reference
 * walker read for each guest entry's gpa and the final one, and a VM exit
 * explained. */
static void walk_show_nested(const mmu_cpu *cpu, const mmu_trace *t,
                             const walk_outcome *ref) {
  const int ept = cpu->nested.kind == MMU_NESTED_EPT;
  printf("\nSecond dimension (%s, %s 0x%llx): each gpa through it, top "
         "level first\n", ept ? "EPT" : "nested page tables",
         ept ? "EPTP" : "nCR3", (unsigned long long)cpu->nested.root);
  for (uint32_t i = 0; i < t->nested_count; i++) {
    const mmu_nested_step *s = &t->nested[i];
    if (i == 0 || s->gpa != t->nested[i - 1].gpa ||
        s->for_level != t->nested[i - 1].for_level)
      printf("  gpa 0x%llx (%s%s):\n", (unsigned long long)s->gpa,
             s->for_level ? "the guest's " : "the final address",
             s->for_level ? walk_entry_names[s->for_level] : "");
    printf("    L%u at 0x%llx = 0x%llx\n", s->level,
           (unsigned long long)s->entry_hpa, (unsigned long long)s->entry);
  }
  uint64_t q = ref->result.exit_qual;
  switch (ref->status) {
  case MMU_EPT_VIOLATION:
    printf("\nResult: EPT violation, gpa 0x%llx, exit qualification 0x%llx:\n"
           "  the access: %s; the entries allow%s%s%s%s; %s\n",
           (unsigned long long)ref->result.gpa, (unsigned long long)q,
           (q & MMU_EPTQ_FETCH) ? "a fetch" : (q & MMU_EPTQ_WRITE) ? "a write" : "a read",
           (q & MMU_EPTQ_READABLE) ? " R" : "", (q & MMU_EPTQ_WRITABLE) ? " W" : "",
           (q & MMU_EPTQ_EXECUTABLE) ? " X" : "", (q & 0x38) ? "" : " nothing",
           !(q & MMU_EPTQ_LINEAR_VALID) ? "no guest linear address"
           : (q & MMU_EPTQ_FINAL)       ? "translating the final address"
                                        : "translating a guest paging entry");
    break;
  case MMU_EPT_MISCONFIG:
    printf("\nResult: EPT misconfiguration, gpa 0x%llx (an entry above: W "
           "without R, execute-only not offered, a reserved bit or memory "
           "type)\n", (unsigned long long)ref->result.gpa);
    break;
  case MMU_NPF:
    printf("\nResult: #VMEXIT(NPF), EXITINFO2 (gpa) 0x%llx, EXITINFO1 0x%llx:\n"
           "  %s%s%s%s%s; %s\n",
           (unsigned long long)ref->result.gpa, (unsigned long long)q,
           (q & MMU_PFEC_P) ? "present" : "not present",
           (q & MMU_PFEC_W) ? ", a write" : ", a read",
           (q & MMU_PFEC_U) ? ", user (every nested access is)" : "",
           (q & MMU_PFEC_RSVD) ? ", a reserved bit" : "",
           (q & MMU_PFEC_ID) ? ", a fetch" : "",
           (q & MMU_NPF_TABLE) ? "translating a guest paging entry"
                               : "translating the final address");
    break;
  default:
    break;
  }
}

/* What the access would touch: up to 16 bytes, not past its region. */
static void walk_show_bytes(const walk_job *job, const mmu_result *res) {
  uint64_t left = 0;
  for (uint32_t i = 0; i < job->ram_count; i++)
    if (res->paddr - job->ram[i].gpa < job->ram[i].size)
      left = job->ram[i].gpa + job->ram[i].size - res->paddr;
  unsigned n = left < 16 ? (unsigned)left : 16;
  printf("  bytes there:");
  for (unsigned i = 0; i < n; i++)
    printf(" %02x", res->host[i]);
  printf("  |");
  for (unsigned i = 0; i < n; i++)
    putchar(res->host[i] >= 0x20 && res->host[i] < 0x7f ? res->host[i] : '.');
  printf("|\n");
}

/* The TLB path and the vector against the reference walker. */
static int walk_cross_check(const walk_job *job, const mmu_trace *trace,
                            const walk_outcome *ref, const walk_outcome *fast) {
  int code = CLI_OK;
  char want[96], got[96];
  walk_outcome_text(want, sizeof want, ref->status, &ref->result);
  walk_outcome_text(got, sizeof got, fast->status, &fast->result);
  if (walk_same_outcome(ref, fast, trace->count, job->ram->size)) {
    printf("\nmmu_translate (the TLB path) agrees: %s%s.\n", got,
           trace->count ? ", the same A/D updates" : "");
  } else {
    printf("\nmmu_translate (the TLB path) DISAGREES: it gives %s, the "
           "reference walker %s\n", got, want);
    for (uint32_t i = 0; i < trace->count; i++)
      if (fast->after[i] != ref->after[i])
        printf("  %s at 0x%llx: 0x%llx after the TLB path, 0x%llx after the "
               "reference walker\n", walk_entry_names[trace->step[i].level],
               (unsigned long long)trace->step[i].entry_gpa,
               (unsigned long long)fast->after[i],
               (unsigned long long)ref->after[i]);
    code = CLI_FAILED;
  }
  if (!job->vector_step)
    return code;
  const vec_step *s = job->vector_step;
  vec_outcome_text(want, sizeof want, &s->expect);
  int agrees = job->cpu->nested.kind != MMU_NESTED_OFF
                   ? job->vector_agrees
                   : walk_vector_agrees(job, trace, ref);
  printf("The vector expects %s and %u A/D update%s: %s.\n", want,
         s->ad_count, s->ad_count == 1 ? "" : "s",
         agrees ? "agrees" : "DISAGREES");
  if (job->departs[0])
    printf("(the source departs from the SDM here: %s)\n", job->departs);
  return agrees ? code : CLI_FAILED;
}

/* PAE paging from guest RAM: this command's MOV to CR3 loaded the PDPTE
 * registers (SDM 4.4.1). When it raised #GP, or the reserved bits of
 * Table 4-8 say it should have, the four entries it read are the
 * explanation; returns the exit code then, -1 when the walk goes on. */
static int walk_pdpte_load(const walk_job *job) {
  const mmu_cpu *cpu = job->cpu;
  uint64_t base = cpu->regs.cr3 & walk_bits(31, 5), e[4];
  int faults = 0;
  char why[4][512];
  for (unsigned i = 0; i < 4; i++) {
    if (!walk_ram_read(job, base + 8 * i, 8, &e[i]))
      e[i] = 0; /* the load said MMU_ERR_PT_BUS before we got here */
    why[i][0] = 0;
    if ((e[i] & MMU_PTE_P) &&
        walk_reserved(cpu, WALK_PAE, 3, e[i], why[i], sizeof why[i]))
      faults = 1;
  }
  int gp = job->cr3_status == MMU_GP_FAULT;
  if (!gp && !faults)
    return -1;
  printf("PAE paging: the MOV to CR3 loads the four PDPTE registers from "
         "0x%llx (CR3 bits 31:5)\nbefore any walk; a present one with a "
         "reserved bit is #GP(0) (SDM 4.4.1, Table 4-8):\n\n",
         (unsigned long long)base);
  for (unsigned i = 0; i < 4; i++) {
    printf("PDPTE %u    at 0x%llx = 0x%016llx\n", i,
           (unsigned long long)(base + 8 * i), (unsigned long long)e[i]);
    if (!(e[i] & MMU_PTE_P)) {
      printf("      P=0: not present, nothing is checked\n");
      continue;
    }
    walk_pdpte_flags(e[i], why[i][0] ? "" : "   no reserved bit");
    if (why[i][0])
      walk_say_reserved("reserved bits set:", why[i]);
  }
  if (faults)
    printf("\nResult: #GP(0) at the MOV to CR3 of 0x%llx: it does not take "
           "effect (CR3 and the PDPTE registers keep their old values); no "
           "walk\n", (unsigned long long)cpu->regs.cr3);
  if (faults && gp) {
    printf("\nmmu_write_cr3 agrees: #GP(0).\n");
    return CLI_OK;
  }
  printf("\nmmu_write_cr3 DISAGREES: it %s\n",
         gp ? "raises #GP(0), and no present PDPTE has a reserved bit"
            : "loads them");
  return CLI_FAILED;
}

static int walk_explain(const walk_job *job) {
  const mmu_regs *r = &job->cpu->regs;
  walk_mode mode = walk_mode_of(r);
  int implicit = (job->access & MMU_IMPLICIT) != 0;
  /* SDM vol. 1 3.3.6: 32 bits outside IA-32e mode */
  int narrow = !(r->efer & MMU_EFER_LMA);
  uint64_t linear = narrow ? (uint32_t)job->vaddr : job->vaddr;
  printf("%s%s of linear address 0x%0*llx at CPL %u: a %s access\n",
         walk_access_name(job->access), implicit ? " (implicit)" : "",
         narrow ? 8 : 16, (unsigned long long)linear, r->cpl,
         r->cpl == 3 && !implicit ? "user-mode" : "supervisor-mode");
  if (linear != job->vaddr)
    printf("  (0x%llx given: the linear address is 32 bits outside IA-32e "
           "mode; bits 63:32 are dropped)\n", (unsigned long long)job->vaddr);
  walk_registers(job->cpu);
  if (mode == WALK_PAE && job->cr3_status == MMU_OK &&
      job->cpu->nested.kind != MMU_NESTED_NPT)
    printf("PDPTE registers 0x%llx 0x%llx 0x%llx 0x%llx\n",
           (unsigned long long)r->pdpte[0], (unsigned long long)r->pdpte[1],
           (unsigned long long)r->pdpte[2], (unsigned long long)r->pdpte[3]);
  printf("\n");
  if (mode == WALK_PAE && job->cr3_written) {
    int code = walk_pdpte_load(job);
    if (code >= 0)
      return code;
  }

  /* the reference walk first, its A/D writes undone, then the TLB path
   * from the same state */
  mmu_trace trace;
  memset(&trace, 0, sizeof trace);
  walk_outcome ref, fast;
  walk_run(job, 1, &trace, &ref);
  walk_run(job, 0, &trace, &fast);

  const int nested = job->cpu->nested.kind != MMU_NESTED_OFF;
  if (mode == WALK_OFF && !nested) {
    printf("Result: physical address 0x%llx: CR0.PG=0, paging is off, the "
           "physical address is the linear address\n",
           (unsigned long long)ref.result.paddr);
  } else {
    if (mode == WALK_OFF)
      printf("CR0.PG=0, paging is off: the linear address is the guest-physical "
             "address\n");
    else
      walk_show_walk(job, &trace, &ref);
    if (nested)
      walk_show_nested(job->cpu, &trace, &ref);
    if (ref.status == MMU_OK)
      printf("Result: physical address 0x%llx: the %s page at 0x%llx + "
             "offset 0x%llx%s\n", (unsigned long long)ref.result.paddr,
             walk_page_size_name(ref.result.page_size),
             (unsigned long long)(ref.result.paddr & ~(ref.result.page_size - 1)),
             (unsigned long long)(ref.result.paddr & (ref.result.page_size - 1)),
             ref.result.host ? "" : " (outside guest RAM)");
  }
  if (ref.status == MMU_OK && ref.result.host)
    walk_show_bytes(job, &ref.result);
  int code = walk_cross_check(job, &trace, &ref, &fast);
  free(ref.ram_after);
  free(fast.ram_after);
  return code;
}

/* ---- inputs ------------------------------------------------------------- */

/* "0, 1, 4": the indices of v's access steps. */
static void walk_access_steps(const vec_vector *v, char *list, size_t n) {
  size_t used = 0;
  list[0] = 0;
  for (uint32_t i = 0; i < v->step_count; i++)
    if (v->step[i].op == VEC_ACCESS) {
      int k = snprintf(list + used, n - used, "%s%u", used ? ", " : "",
                       (unsigned)i);
      if (k > 0 && (size_t)k < n - used)
        used += (size_t)k;
    }
}

/* Finds vector id in path and runs its steps before the one to explain. */
static int walk_from_vector(const char *path, const char *id, long step) {
  static vec_vector v;
  static char msg[4096];
  size_t len;
  char *text = cli_read_file(path, &len);
  if (!text) {
    cli_file_error(path, 0, "cannot read: %s", strerror(errno));
    return CLI_BAD_INPUT;
  }
  vec_reader r;
  vec_reader_init(&r, text, len);
  int rc;
  while ((rc = vec_read(&r, &v)) == VEC_OK && strcmp(v.id, id) != 0) {
  }
  free(text);
  if (rc == VEC_ERROR) {
    cli_file_error(path, r.line, "%s", vec_error_text(&r));
    return CLI_BAD_INPUT;
  }
  if (rc != VEC_OK) {
    cli_file_error(path, 0, "no vector '%s'", id);
    return CLI_BAD_INPUT;
  }
  unsigned long line = r.vector_line;
  if (step < 0)
    for (uint32_t i = 0; i < v.step_count && step < 0; i++)
      if (v.step[i].op == VEC_ACCESS)
        step = (long)i;
  if (step < 0 || (uint32_t)step >= v.step_count ||
      v.step[step].op != VEC_ACCESS) {
    char list[128];
    walk_access_steps(&v, list, sizeof list);
    cli_file_error(path, line, "vector '%s': step %ld is not an access; its "
                   "access steps are %s", id, step, list);
    return CLI_BAD_INPUT;
  }

  check_ctx *ctx = calloc(1, sizeof *ctx);
  void *block = NULL;
  if (ctx) { /* calloc'd: pages of a large RAM stay untouched until used */
    block = calloc(1, v.ram_size + 4096);
    ctx->ram = (uint8_t *)(((uintptr_t)block + 4095) & ~(uintptr_t)4095);
    ctx->ram_capacity = v.ram_size;
  }
  if (!ctx || !block) {
    cli_error("walk", "cannot allocate %llu bytes of guest RAM",
              (unsigned long long)v.ram_size);
    free(ctx);
    return CLI_BAD_INPUT;
  }
  mmu_cpu cpu;
  int code, agrees = 0;
  if (v.nested_kind != MMU_NESTED_OFF) /* the vector through this step */
    agrees = check_run_until(ctx, &v, CHECK_REFERENCE, (uint32_t)step + 1, &cpu,
                             msg, sizeof msg) == 1;
  rc = check_run_until(ctx, &v, CHECK_FAST, (uint32_t)step, &cpu, msg,
                       sizeof msg);
  if (rc < 0) {
    msg[strcspn(msg, "\n")] = 0;
    cli_file_error(path, line, "%s", msg);
    code = CLI_BAD_INPUT;
  } else if (rc == 0) {
    printf("vector %s: a step before step %ld already disagrees:\n%s", id,
           step, msg);
    code = CLI_FAILED;
  } else {
    char list[128];
    walk_access_steps(&v, list, sizeof list);
    printf("%s:%lu: vector %s (%s), step %ld", path, line, v.id,
           v.category[0] ? v.category : "no category", step);
    if (strchr(list, ','))
      printf(" of the access steps %s (--step N)", list);
    printf("\n");
    walk_job job = {&cpu, &ctx->region, 1, v.step[step].a,
                    v.step[step].access, &v.step[step], v.departs, 0, MMU_OK,
                    agrees};
    code = walk_explain(&job);
  }
  free(block);
  free(ctx);
  return code;
}

/* Why mmu_load_regs would refuse these registers (its checks, said). */
static const char *walk_regs_problem(const mmu_regs *r, unsigned maxphyaddr) {
  int pg = (r->cr0 & MMU_CR0_PG) != 0, lma = (r->efer & MMU_EFER_LMA) != 0;
  if (r->cr0 >> 32)
    return "CR0 bits 63:32 are reserved";
  if (r->cr4 >> 32)
    return "CR4 bits 63:32 are reserved";
  if (pg && !(r->cr0 & MMU_CR0_PE))
    return "CR0.PG=1 needs CR0.PE=1";
  if ((r->cr0 & MMU_CR0_NW) && !(r->cr0 & MMU_CR0_CD))
    return "CR0.NW=1 needs CR0.CD=1";
  /* the --efer default is long mode: the usual slip for the other modes */
  if (lma != (pg && (r->efer & MMU_EFER_LME)))
    return "EFER.LMA must be CR0.PG and EFER.LME (outside long mode give "
           "--efer 0, or 0x800 for NXE)";
  if (lma && !(r->cr4 & MMU_CR4_PAE))
    return "long mode (EFER.LMA=1) needs CR4.PAE=1 (for 32-bit paging give "
           "--efer 0, or 0x800 for NXE)";
  if ((r->cr4 & MMU_CR4_PCIDE) && !lma)
    return "CR4.PCIDE=1 needs long mode";
  uint64_t cr3 = (r->cr4 & MMU_CR4_PCIDE) ? r->cr3 & ~MMU_CR3_NOFLUSH : r->cr3;
  if (maxphyaddr < 64 && (cr3 >> maxphyaddr))
    return "CR3 has bits set at or above MAXPHYADDR";
  if (!lma && (cr3 >> 32))
    return "CR3 is 32 bits outside long mode";
  return "mmu_load_regs refused them";
}

static int walk_from_ram(walk_ram *ram, unsigned ram_count, mmu_config *cfg,
                         const mmu_regs *regs, uint64_t vaddr, unsigned access) {
  static uint64_t tlb[MMU_TLB_STORAGE_SIZE(64, 4, MMU_FRONT_DEFAULT(64, 4)) / 8 + 1];
  mmu_ram_region regions[WALK_MAX_RAM];
  int code = CLI_BAD_INPUT;
  unsigned loaded = 0;
  for (; loaded < ram_count; loaded++) {
    size_t len;
    char *bytes = cli_read_file(ram[loaded].path, &len);
    if (!bytes) {
      cli_file_error(ram[loaded].path, 0, "cannot read: %s", strerror(errno));
      goto out;
    }
    if (len == 0) {
      cli_file_error(ram[loaded].path, 0, "empty: no guest RAM in it");
      free(bytes);
      goto out;
    }
    /* 4 KiB aligned and a whole number of pages, as regions must be */
    uint64_t size = ((uint64_t)len + 4095) & ~4095ull;
    ram[loaded].block = aligned_alloc(4096, size);
    if (!ram[loaded].block) {
      cli_error("walk", "cannot allocate %llu bytes of guest RAM",
                (unsigned long long)size);
      free(bytes);
      goto out;
    }
    memset(ram[loaded].block, 0, size);
    memcpy(ram[loaded].block, bytes, len);
    free(bytes);
    regions[loaded].gpa = ram[loaded].gpa;
    regions[loaded].size = size;
    regions[loaded].host = ram[loaded].block;
  }
  cfg->ram = regions;
  cfg->ram_count = ram_count;
  cfg->tlb_sets = 64;
  cfg->tlb_ways = 4;
  mmu_cpu cpu;
  int rc = mmu_init(&cpu, cfg, tlb, sizeof tlb);
  if (rc == MMU_ERR_RAM) {
    cli_error("walk", "the --ram regions overlap");
    goto out;
  }
  if (rc != MMU_OK) {
    cli_error("walk", "mmu_init: %s", mmu_status_name(rc));
    goto out;
  }
  rc = mmu_load_regs(&cpu, regs);
  if (rc != MMU_OK) {
    cli_error("walk", "registers refused: %s", walk_regs_problem(regs, cfg->maxphyaddr));
    goto out;
  }
  /* PAE paging: regs.pdpte[] is empty; load it from RAM as a MOV to CR3
   * does (SDM 4.4.1), #GP included */
  int cr3_written = walk_mode_of(regs) == WALK_PAE;
  int cr3_status = cr3_written ? mmu_write_cr3(&cpu, regs->cr3) : MMU_OK;
  if (cr3_status == MMU_ERR_PT_BUS) {
    cli_error("walk", "the PDPTEs at 0x%llx (CR3 bits 31:5) are outside guest "
              "RAM: PAE paging cannot load them",
              (unsigned long long)(regs->cr3 & 0xFFFFFFE0u));
    goto out;
  }
  for (unsigned i = 0; i < ram_count; i++)
    printf("RAM %s: 0x%llx-0x%llx\n", ram[i].path,
           (unsigned long long)regions[i].gpa,
           (unsigned long long)(regions[i].gpa + regions[i].size - 1));
  walk_job job = {&cpu, regions, ram_count,   vaddr,     access,
                  NULL, "",      cr3_written, cr3_status, 0};
  code = walk_explain(&job);
out:
  for (unsigned i = 0; i < loaded; i++)
    free(ram[i].block);
  return code;
}

/* ---- the command line --------------------------------------------------- */

static int walk_number(const char *option, const char *value, uint64_t max,
                       uint64_t *out) {
  if (!value) {
    cli_error("walk", "%s needs a value", option);
    return 0;
  }
  if (!cli_parse_u64(value, 0, out) || *out > max) {
    cli_error("walk", "%s: '%s' is not a number up to 0x%llx", option, value,
              (unsigned long long)max);
    return 0;
  }
  return 1;
}

int cli_walk(int argc, char **argv) {
  walk_ram ram[WALK_MAX_RAM];
  unsigned ram_count = 0;
  mmu_config cfg;
  mmu_regs regs;
  memset(&cfg, 0, sizeof cfg);
  memset(&regs, 0, sizeof regs);
  regs.cr0 = MMU_CR0_PG | MMU_CR0_WP | MMU_CR0_PE;
  regs.cr4 = MMU_CR4_PAE;
  regs.efer = MMU_EFER_NXE | MMU_EFER_LMA | MMU_EFER_LME;
  cfg.maxphyaddr = 52;
  unsigned access = MMU_READ;
  long step = -1;
  int have_cr3 = 0, ram_only = 0, options_done = 0;
  const char *positional[3];
  int npositional = 0;
  uint64_t x;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (options_done || arg[0] != '-' || arg[1] == 0) {
      if (npositional == 3) {
        cli_error("walk", "too many arguments ('%s')", arg);
        goto usage;
      }
      positional[npositional++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      options_done = 1;
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(walk_usage, stdout);
      return CLI_OK;
    } else if (strcmp(arg, "--step") == 0) {
      if (!walk_number(arg, value, VEC_MAX_STEPS - 1, &x))
        goto usage;
      step = (long)x;
      i++;
    } else if (strcmp(arg, "--ram") == 0) {
      if (!value) {
        cli_error("walk", "--ram needs FILE[@GPA]");
        goto usage;
      }
      if (ram_count == WALK_MAX_RAM) {
        cli_error("walk", "at most %d --ram options", WALK_MAX_RAM);
        goto usage;
      }
      walk_ram *w = &ram[ram_count++];
      static char paths[WALK_MAX_RAM][4096];
      snprintf(paths[ram_count - 1], sizeof paths[0], "%s", value);
      w->path = paths[ram_count - 1];
      w->gpa = 0;
      w->block = NULL;
      char *at = strrchr(paths[ram_count - 1], '@');
      if (at) {
        *at = 0;
        if (!cli_parse_u64(at + 1, 1, &w->gpa) || (w->gpa & 0xFFF)) {
          cli_error("walk", "--ram %s: '%s' is not a guest-physical address "
                    "that is a multiple of 4096", value, at + 1);
          goto usage;
        }
      }
      i++;
    } else if (strcmp(arg, "--cr0") == 0 || strcmp(arg, "--cr3") == 0 ||
               strcmp(arg, "--cr4") == 0 || strcmp(arg, "--efer") == 0) {
      if (!walk_number(arg, value, ~0ull, &x))
        goto usage;
      if (arg[4] == '0')
        regs.cr0 = x;
      else if (arg[4] == '3') {
        regs.cr3 = x;
        have_cr3 = 1;
      }
      else if (arg[4] == '4')
        regs.cr4 = x;
      else
        regs.efer = x;
      ram_only = 1;
      i++;
    } else if (strcmp(arg, "--cpl") == 0) {
      if (!walk_number(arg, value, 3, &x))
        goto usage;
      regs.cpl = (uint8_t)x;
      ram_only = 1;
      i++;
    } else if (strcmp(arg, "--pkru") == 0) {
      if (!walk_number(arg, value, 0xFFFFFFFFu, &x))
        goto usage;
      regs.pkru = (uint32_t)x;
      ram_only = 1;
      i++;
    } else if (strcmp(arg, "--maxphyaddr") == 0) {
      if (!walk_number(arg, value, 52, &x))
        goto usage;
      if (x < 36) {
        cli_error("walk", "--maxphyaddr: %llu is below 36", (unsigned long long)x);
        goto usage;
      }
      cfg.maxphyaddr = (uint32_t)x;
      ram_only = 1;
      i++;
    } else if (strcmp(arg, "--ac") == 0) {
      regs.ac = 1, ram_only = 1;
    } else if (strcmp(arg, "--no-1g") == 0) {
      cfg.flags |= MMU_CFG_NO_1G_PAGES, ram_only = 1;
    } else if (strcmp(arg, "--amd") == 0) {
      cfg.flags |= MMU_CFG_AMD, ram_only = 1;
    } else if (strcmp(arg, "--ad-on-fault") == 0) {
      cfg.flags |= MMU_CFG_AD_ON_FAULT_UPPER, ram_only = 1;
    } else if (strcmp(arg, "--read") == 0) {
      access = (access & MMU_IMPLICIT) | MMU_READ, ram_only = 1;
    } else if (strcmp(arg, "--write") == 0) {
      access = (access & MMU_IMPLICIT) | MMU_WRITE, ram_only = 1;
    } else if (strcmp(arg, "--fetch") == 0) {
      access = (access & MMU_IMPLICIT) | MMU_FETCH, ram_only = 1;
    } else if (strcmp(arg, "--implicit") == 0) {
      access |= MMU_IMPLICIT, ram_only = 1;
    } else {
      cli_error("walk", "unknown option '%s'", arg);
      goto usage;
    }
  }

  if (ram_count == 0) {
    if (ram_only) {
      cli_error("walk", "registers, configuration and access options go with "
                        "--ram; a vector brings its own");
      goto usage;
    }
    if (npositional != 2) {
      cli_error("walk", "give a vector FILE and ID, or --ram and an address");
      goto usage;
    }
    return walk_from_vector(positional[0], positional[1], step);
  }
  if (step >= 0) {
    cli_error("walk", "--step goes with a vector file, not --ram");
    goto usage;
  }
  if (!have_cr3 && (regs.cr0 & MMU_CR0_PG)) {
    cli_error("walk", "--ram needs --cr3 (unless CR0.PG=0)");
    goto usage;
  }
  if (npositional != 1) {
    cli_error("walk", "with --ram, give one linear address (VADDR)");
    goto usage;
  }
  if (!cli_parse_u64(positional[0], 0, &x)) {
    cli_error("walk", "'%s' is not a linear address", positional[0]);
    goto usage;
  }
  if ((access & MMU_IMPLICIT) && (access & MMU_FETCH)) {
    cli_error("walk", "--implicit goes with --read or --write");
    goto usage;
  }
  return walk_from_ram(ram, ram_count, &cfg, &regs, x, access);

usage:
  fprintf(stderr, "usage: mmu walk [--step N] FILE.vec ID\n"
                  "       mmu walk --ram FILE[@GPA]... --cr3 X [REGISTERS] "
                  "[ACCESS] VADDR\n"
                  "'mmu walk --help' lists the options.\n");
  return CLI_BAD_INPUT;
}
