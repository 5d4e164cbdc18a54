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
    "\n"
    "From a conformance vector:\n"
    "  --step N           explain step N (numbered from 0, as mmu conform\n"
    "                     reports it; default: the first access step)\n"
    "From guest RAM:\n"
    "  --ram FILE[@GPA]   FILE's bytes at guest-physical GPA (default 0, a\n"
    "                     multiple of 4096, K/M/G allowed); up to 8 times\n"
    "  --cr3 X            CR3, the top-level table (required)\n"
    "  --cr0 X            CR0 (default 0x80010001: PG WP PE)\n"
    "  --cr4 X            CR4 (default 0x20: PAE; LA57 0x1000, SMEP 0x100000,\n"
    "                     SMAP 0x200000, PKE 0x400000)\n"
    "  --efer X           EFER (default 0xd00: NXE LMA LME)\n"
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
    "exit status: 0 explained, 1 the TLB path (or the vector) disagrees with\n"
    "the reference walker, 2 bad usage or input (FILE:LINE: why).\n";

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
} walk_job;

/* What one path did: its outcome and the entries' values after it. */
typedef struct walk_outcome {
  int status;
  mmu_result result;
  uint64_t after[5]; /* at the trace's entries */
} walk_outcome;

static const char *const walk_entry_names[6] = {"", "PTE", "PDE", "PDPTE",
                                                "PML4E", "PML5E"};
static const char *const walk_table_names[6] = {
    "", "page table", "page directory", "page-directory-pointer table",
    "PML4 table", "PML5 table"};
static const char *const walk_index_names[6] = {"", "PT", "PD", "PDPT", "PML4",
                                                "PML5"};

static const char *walk_access_name(unsigned access) {
  if (access & MMU_FETCH)
    return "fetch";
  return (access & MMU_WRITE) ? "write" : "read";
}

static const char *walk_page_size_name(uint64_t size) {
  return size == (1ull << 30) ? "1 GiB" : size == (1ull << 21) ? "2 MiB" : "4 KiB";
}

/* Guest RAM as the walk sees it, for the A/D comparison. */
static uint64_t *walk_ram_entry(const walk_job *job, uint64_t gpa) {
  for (uint32_t i = 0; i < job->ram_count; i++) {
    const mmu_ram_region *r = &job->ram[i];
    if (gpa >= r->gpa && gpa - r->gpa <= r->size - 8)
      return (uint64_t *)(void *)((uint8_t *)r->host + (gpa - r->gpa));
  }
  return NULL;
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

/* Bits MAXPHYADDR-1:12 of an entry: the next table's or the page's frame. */
static uint64_t walk_frame_mask(const mmu_cpu *cpu) {
  unsigned m = cpu->maxphyaddr < 52 ? cpu->maxphyaddr : 52;
  return ((1ull << m) - 1) & ~0xFFFull;
}

static int walk_is_leaf(unsigned level, uint64_t entry) {
  return level == 1 || (level <= 3 && (entry & MMU_PTE_PS));
}

/* ---- the figure of the linear address ----------------------------------- */

typedef struct walk_field {
  unsigned hi, lo;
  const char *name;
  char value[24];
} walk_field;

static void walk_figure(uint64_t vaddr, unsigned levels, unsigned leaf_level) {
  walk_field f[7];
  unsigned n = 0;
  unsigned width = levels == 5 ? 57 : 48;
  f[n].hi = 63;
  f[n].lo = width;
  f[n].name = "sign";
  snprintf(f[n].value, sizeof f[n].value, "0x%llx",
           (unsigned long long)(vaddr >> width));
  n++;
  for (unsigned level = levels; level >= leaf_level; level--, n++) {
    f[n].lo = 12 + 9 * (level - 1);
    f[n].hi = f[n].lo + 8;
    f[n].name = walk_index_names[level];
    snprintf(f[n].value, sizeof f[n].value, "%llu",
             (unsigned long long)((vaddr >> f[n].lo) & 0x1FF));
  }
  f[n].hi = 12 + 9 * (leaf_level - 1) - 1;
  f[n].lo = 0;
  f[n].name = "offset";
  snprintf(f[n].value, sizeof f[n].value, "0x%llx",
           (unsigned long long)(vaddr & ((1ull << (f[n].hi + 1)) - 1)));
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
 * buf (SDM 4.5.4, Tables 4-15 to 4-20; APM for AMD's bit 8). Returns 1 if
 * any did. */
static int walk_reserved(const mmu_cpu *cpu, unsigned level, uint64_t entry,
                         char *buf, size_t n) {
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
  uint64_t above = m < 52 ? ((1ull << 52) - 1) & ~((1ull << m) - 1) : 0;
  if (entry & above) {
    walk_bit_list(entry & above, bits, sizeof bits);
    WALK_SAY("bit %s: at or above MAXPHYADDR %u (bits 51:%u are reserved)\n",
             bits, m, m);
  }
  if ((entry & MMU_PTE_XD) && !(cpu->regs.efer & MMU_EFER_NXE))
    WALK_SAY("bit 63 (XD): reserved while EFER.NXE=0\n");
  int ps = (entry & MMU_PTE_PS) != 0;
  if (level >= 4 && ps)
    WALK_SAY("bit 7 (PS): a %s cannot map a page\n", walk_entry_names[level]);
  if (level == 3 && ps && (cpu->flags & MMU_CFG_NO_1G_PAGES))
    WALK_SAY("bit 7 (PS): this CPU has no 1 GiB pages (CPUID Page1GB=0)\n");
  else if (level == 3 && ps && (entry & 0x3FFFE000ull)) {
    walk_bit_list(entry & 0x3FFFE000ull, bits, sizeof bits);
    WALK_SAY("bit %s: a 1 GiB page's frame is 1 GiB aligned (bits 29:13 "
             "are reserved)\n", bits);
  }
  if (level == 2 && ps && (entry & 0x1FE000ull)) {
    walk_bit_list(entry & 0x1FE000ull, bits, sizeof bits);
    WALK_SAY("bit %s: a 2 MiB page's frame is 2 MiB aligned (bits 20:13 "
             "are reserved)\n", bits);
  }
  if ((cpu->flags & MMU_CFG_AMD) && level >= 4 && (entry & MMU_PTE_G))
    WALK_SAY("bit 8: reserved in a %s on AMD\n", walk_entry_names[level]);
#undef WALK_SAY
  return used > 0;
}

static void walk_entry(const mmu_cpu *cpu, const mmu_walk_step *s,
                       uint64_t after, int *reserved_fired) {
  unsigned level = s->level;
  uint64_t e = s->entry;
  uint64_t index = (s->entry_gpa & 0xFFF) / 8;
  char name[16];
  snprintf(name, sizeof name, "%s[%u]", walk_entry_names[level], (unsigned)index);
  printf("%-10s at 0x%llx = 0x%016llx\n", name,
         (unsigned long long)s->entry_gpa, (unsigned long long)e);
  if (!(e & MMU_PTE_P)) {
    printf("      P=0: not present, the walk stops here\n");
    return;
  }
  int leaf = walk_is_leaf(level, e);
  int pke = (cpu->regs.cr4 & MMU_CR4_PKE) != 0;
  const char *bit7 = level == 1 ? "PAT" : "PS";
  printf("      P W U PWT PCD A D %-3s G XD%s\n", bit7, leaf && pke ? "  PK" : "");
  printf("      %d %d %d  %d   %d  %d %d  %d  %d  %d", (int)(e & 1),
         (int)((e >> 1) & 1), (int)((e >> 2) & 1), (int)((e >> 3) & 1),
         (int)((e >> 4) & 1), (int)((e >> 5) & 1), (int)((e >> 6) & 1),
         (int)((e >> 7) & 1), (int)((e >> 8) & 1), (int)(e >> 63));
  if (leaf && pke)
    printf(" %3u", (unsigned)((e >> MMU_PTE_PKEY_SHIFT) & 15));
  char why[512];
  uint64_t frame_mask = walk_frame_mask(cpu);
  if (walk_reserved(cpu, level, e, why, sizeof why)) {
    *reserved_fired = 1;
    printf("\n      reserved bits set, the walk stops here:\n");
    for (char *line = strtok(why, "\n"); line; line = strtok(NULL, "\n"))
      printf("        %s\n", line);
  } else if (leaf) {
    uint64_t size = 1ull << (12 + 9 * (level - 1));
    printf("   -> %s page at 0x%llx\n", walk_page_size_name(size),
           (unsigned long long)(e & frame_mask & ~(size - 1)));
  } else {
    printf("   -> %s at 0x%llx\n", walk_table_names[level - 1],
           (unsigned long long)(e & frame_mask));
  }
  if (after != e)
    printf("      the walk set %s%s%s: now 0x%016llx\n",
           (after & ~e & MMU_PTE_A) ? "A" : "",
           (after & ~e & MMU_PTE_A) && (after & ~e & MMU_PTE_D) ? " and " : "",
           (after & ~e & MMU_PTE_D) ? "D" : "", (unsigned long long)after);
}

/* ---- why an access was denied (SDM 4.6) --------------------------------- */

/* The entries of the walk whose bit (mask) is clear (want 0) or set. */
static void walk_levels_with(const mmu_trace *t, uint64_t mask, int set,
                             char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  for (uint32_t i = 0; i < t->count; i++)
    if (((t->step[i].entry & mask) != 0) == set) {
      int k = snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                       walk_entry_names[t->step[i].level]);
      if (k > 0 && (size_t)k < n - used)
        used += (size_t)k;
    }
}

static void walk_why_protection(const mmu_cpu *cpu, const mmu_trace *t,
                                unsigned access, uint32_t ec) {
  const mmu_regs *r = &cpu->regs;
  int fetch = (access & MMU_FETCH) != 0;
  int write = (access & MMU_WRITE) && !fetch;
  int implicit = (access & MMU_IMPLICIT) != 0;
  int user_access = r->cpl == 3 && !implicit;
  int nxe = (r->efer & MMU_EFER_NXE) != 0;
  uint64_t all = ~0ull, any = 0;
  for (uint32_t i = 0; i < t->count; i++) {
    all &= t->step[i].entry;
    any |= t->step[i].entry;
  }
  int user_page = (all & MMU_PTE_U) != 0, writable = (all & MMU_PTE_W) != 0;
  char where_u[64], where_w[64], where_xd[64];
  walk_levels_with(t, MMU_PTE_U, 0, where_u, sizeof where_u);
  walk_levels_with(t, MMU_PTE_W, 0, where_w, sizeof where_w);
  walk_levels_with(t, MMU_PTE_XD, 1, where_xd, sizeof where_xd);
  const char *mode = user_access ? "user-mode" : "supervisor-mode";
  if (ec & MMU_PFEC_PK) {
    uint64_t leaf = t->step[t->count - 1].entry;
    unsigned key = (unsigned)(leaf >> MMU_PTE_PKEY_SHIFT) & 15;
    int ad = (r->pkru >> (2 * key)) & 1;
    printf("  why: the page has protection key %u and PKRU.%s%u=1 (%s)\n", key,
           ad ? "AD" : "WD", key, ad ? "access disabled" : "write disabled");
    return;
  }
  if (fetch && nxe && (any & MMU_PTE_XD))
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
           mode, where_w);
  else
    printf("  why: (no rule of SDM 4.6 this tool knows explains it)\n");
}

/* The rights the entries give together (SDM 4.6: W and U must be 1 in
 * every entry, XD in any one forbids fetches). */
static void walk_rights(const mmu_cpu *cpu, const mmu_trace *t) {
  uint64_t all = ~0ull, any = 0;
  for (uint32_t i = 0; i < t->count; i++) {
    all &= t->step[i].entry;
    any |= t->step[i].entry;
  }
  char where[64];
  printf("Rights over the walk:\n");
  walk_levels_with(t, MMU_PTE_U, 0, where, sizeof where);
  if (all & MMU_PTE_U)
    printf("  user page (U=1 in every entry)\n");
  else
    printf("  supervisor page (U=0 in the %s)\n", where);
  walk_levels_with(t, MMU_PTE_W, 0, where, sizeof where);
  if (all & MMU_PTE_W)
    printf("  writable (W=1 in every entry)\n");
  else
    printf("  read-only (W=0 in the %s)\n", where);
  walk_levels_with(t, MMU_PTE_XD, 1, where, sizeof where);
  if (!(cpu->regs.efer & MMU_EFER_NXE))
    printf("  executable (EFER.NXE=0)\n");
  else if (any & MMU_PTE_XD)
    printf("  not executable (XD=1 in the %s)\n", where);
  else
    printf("  executable (XD=0 in every entry)\n");
  if ((cpu->regs.cr4 & MMU_CR4_PKE) && (all & MMU_PTE_U)) {
    unsigned key = (unsigned)(t->step[t->count - 1].entry >> MMU_PTE_PKEY_SHIFT) & 15;
    printf("  protection key %u: PKRU AD%u=%u WD%u=%u\n", key, key,
           (cpu->regs.pkru >> (2 * key)) & 1, key,
           (cpu->regs.pkru >> (2 * key + 1)) & 1);
  }
}

static void walk_error_code(uint32_t ec, uint64_t cr2) {
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
      {MMU_PFEC_ID, "ID", "an instruction fetch",
       "not a fetch (or EFER.NXE=0 and CR4.SMEP=0)"},
      {MMU_PFEC_PK, "PK", "a protection-key violation",
       "no protection-key violation"},
  };
  printf("  error code 0x%x (SDM 4.7):\n", ec);
  for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++) {
    int set = (ec & bits[i].bit) != 0;
    const char *meaning = set ? bits[i].set : bits[i].clear;
    if (bits[i].bit == MMU_PFEC_P && (ec & MMU_PFEC_RSVD))
      meaning = "the entry is present (its reserved bits faulted)";
    printf("    bit %u %-4s = %d  %s\n", i, bits[i].name, set, meaning);
  }
  printf("  CR2 = 0x%016llx\n", (unsigned long long)cr2);
}

/* ---- both paths, and the explanation ------------------------------------ */

static void walk_outcome_text(char *buf, size_t n, int status,
                              const mmu_result *r) {
  if (status == MMU_OK)
    snprintf(buf, n, "ok 0x%llx", (unsigned long long)r->paddr);
  else if (status == MMU_PAGE_FAULT)
    snprintf(buf, n, "pf 0x%x cr2=0x%llx", r->error_code,
             (unsigned long long)r->cr2);
  else if (status == MMU_GP_FAULT)
    snprintf(buf, n, "gp");
  else if (status == MMU_ERR_PT_BUS)
    snprintf(buf, n, "%s at 0x%llx", mmu_status_name(status),
             (unsigned long long)r->paddr);
  else
    snprintf(buf, n, "%s", mmu_status_name(status));
}

static int walk_same_outcome(const walk_outcome *a, const walk_outcome *b,
                             uint32_t entries) {
  if (a->status != b->status)
    return 0;
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

/* Runs one path and records the entries of trace t after it, then puts
 * them back as they were, so that the other path starts alike. */
static void walk_run(const walk_job *job, int reference, mmu_trace *t,
                     walk_outcome *o) {
  memset(o, 0, sizeof *o);
  o->status = reference ? mmu_reference_translate(job->cpu, job->vaddr,
                                                  job->access, &o->result, t)
                        : mmu_translate(job->cpu, job->vaddr, job->access,
                                        &o->result);
  for (uint32_t i = 0; i < t->count; i++) {
    uint64_t *entry = walk_ram_entry(job, t->step[i].entry_gpa);
    o->after[i] = entry ? *entry : t->step[i].entry;
    if (entry)
      *entry = t->step[i].entry;
  }
}

/* The vector's expectation against the reference walker's outcome. */
static int walk_vector_agrees(const walk_job *job, const mmu_trace *t,
                              const walk_outcome *ref) {
  const vec_outcome *want = &job->vector_step->expect;
  int ok;
  switch (want->kind) {
  case VEC_OUT_OK:
    ok = ref->status == MMU_OK && ref->result.paddr == want->pa_or_cr2;
    break;
  case VEC_OUT_PF:
    ok = ref->status == MMU_PAGE_FAULT &&
         ref->result.error_code == want->error_code &&
         ref->result.cr2 == want->pa_or_cr2;
    break;
  case VEC_OUT_GP:
    ok = ref->status == MMU_GP_FAULT;
    break;
  default:
    ok = 0;
  }
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

/* The paging part: the address figure, each entry, the rights, and the
 * outcome when it is a fault. */
static void walk_show_walk(const walk_job *job, const mmu_trace *trace,
                           const walk_outcome *ref) {
  const mmu_cpu *cpu = job->cpu;
  const mmu_regs *r = &cpu->regs;
  unsigned levels = (r->cr4 & MMU_CR4_LA57) ? 5 : 4;
  const mmu_walk_step *last = trace->count ? &trace->step[trace->count - 1] : NULL;
  /* the figure cuts the address as the entry where the walk ended does,
   * when that entry maps a page */
  unsigned leaf_level = 1;
  if (last && (last->entry & MMU_PTE_P) && walk_is_leaf(last->level, last->entry))
    leaf_level = last->level;
  printf("%u-level paging; the linear address, cut for a %s page:\n\n", levels,
         walk_page_size_name(1ull << (12 + 9 * (leaf_level - 1))));
  walk_figure(job->vaddr, levels, leaf_level);
  printf("\n");
  if (ref->status == MMU_GP_FAULT) {
    unsigned top = levels == 5 ? 56 : 47;
    printf("Result: #GP(0), no walk: the address is not canonical (bits "
           "63:%u must all equal bit %u)\n", top, top);
    return;
  }
  printf("CR3 0x%llx: the %s is at 0x%llx\n\n", (unsigned long long)r->cr3,
         walk_table_names[levels],
         (unsigned long long)(r->cr3 & walk_frame_mask(cpu)));
  int reserved_fired = 0;
  for (uint32_t i = 0; i < trace->count; i++)
    walk_entry(cpu, &trace->step[i], ref->after[i], &reserved_fired);
  if (last && (last->entry & MMU_PTE_P) && !reserved_fired &&
      walk_is_leaf(last->level, last->entry)) {
    printf("\n");
    walk_rights(cpu, trace);
  }
  if (ref->status == MMU_ERR_PT_BUS) {
    /* the entry that could not be read is one level below the last traced */
    unsigned level = last ? last->level - 1u : levels;
    char name[16];
    snprintf(name, sizeof name, "%s[%u]", walk_entry_names[level],
             (unsigned)((ref->result.paddr & 0xFFF) / 8));
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
  if ((last->entry & MMU_PTE_P) && !(ec & MMU_PFEC_RSVD))
    printf("Result: #PF (page fault): the walk is complete, the access is "
           "not allowed\n");
  else
    printf("Result: #PF (page fault) at the %s\n", walk_entry_names[last->level]);
  if (!(last->entry & MMU_PTE_P))
    printf("  why: P=0 in the %s: nothing is mapped there\n",
           walk_entry_names[last->level]);
  else if (ec & MMU_PFEC_RSVD)
    printf("  why: %s in the %s (above)\n",
           reserved_fired ? "reserved bits set"
                          : "a reserved bit (no rule of this tool says which)",
           walk_entry_names[last->level]);
  else
    walk_why_protection(cpu, trace, job->access, ec);
  walk_error_code(ec, ref->result.cr2);
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
  if (walk_same_outcome(ref, fast, trace->count)) {
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
  mmu_result expected;
  memset(&expected, 0, sizeof expected);
  expected.paddr = expected.cr2 = s->expect.pa_or_cr2;
  expected.error_code = s->expect.error_code;
  walk_outcome_text(want, sizeof want,
                    s->expect.kind == VEC_OUT_OK   ? MMU_OK
                    : s->expect.kind == VEC_OUT_PF ? MMU_PAGE_FAULT
                                                   : MMU_GP_FAULT,
                    &expected);
  int agrees = walk_vector_agrees(job, trace, ref);
  printf("The vector expects %s and %u A/D update%s: %s.\n", want,
         s->ad_count, s->ad_count == 1 ? "" : "s",
         agrees ? "agrees" : "DISAGREES");
  if (job->departs[0])
    printf("(the source departs from the SDM here: %s)\n", job->departs);
  return agrees ? code : CLI_FAILED;
}

static int walk_explain(const walk_job *job) {
  const mmu_regs *r = &job->cpu->regs;
  int implicit = (job->access & MMU_IMPLICIT) != 0;
  printf("%s%s of linear address 0x%016llx at CPL %u: a %s access\n",
         walk_access_name(job->access), implicit ? " (implicit)" : "",
         (unsigned long long)job->vaddr, r->cpl,
         r->cpl == 3 && !implicit ? "user-mode" : "supervisor-mode");
  walk_registers(job->cpu);
  printf("\n");

  /* the reference walk first, its A/D writes undone, then the TLB path
   * from the same state */
  mmu_trace trace;
  memset(&trace, 0, sizeof trace);
  walk_outcome ref, fast;
  walk_run(job, 1, &trace, &ref);
  walk_run(job, 0, &trace, &fast);

  if (ref.status == MMU_ERR_MODE) {
    cli_error("walk", "paging mode not modelled: 4- and 5-level paging need "
                      "EFER.LMA=1 and CR4.PAE=1");
    return CLI_BAD_INPUT;
  }
  if (!(r->cr0 & MMU_CR0_PG)) {
    printf("Result: physical address 0x%llx: CR0.PG=0, paging is off, the "
           "physical address is the linear address\n",
           (unsigned long long)ref.result.paddr);
  } else {
    walk_show_walk(job, &trace, &ref);
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
  return walk_cross_check(job, &trace, &ref, &fast);
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
  int code;
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
                    v.step[step].access, &v.step[step], v.departs};
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
  if (lma != (pg && (r->efer & MMU_EFER_LME)))
    return "EFER.LMA must be CR0.PG and EFER.LME";
  if (lma && !(r->cr4 & MMU_CR4_PAE))
    return "long mode (EFER.LMA=1) needs CR4.PAE=1";
  if ((r->cr4 & MMU_CR4_PCIDE) && !lma)
    return "CR4.PCIDE=1 needs long mode";
  uint64_t cr3 = (r->cr4 & MMU_CR4_PCIDE) ? r->cr3 & ~MMU_CR3_NOFLUSH : r->cr3;
  if (maxphyaddr < 64 && (cr3 >> maxphyaddr))
    return "CR3 has bits set at or above MAXPHYADDR";
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
  for (unsigned i = 0; i < ram_count; i++)
    printf("RAM %s: 0x%llx-0x%llx\n", ram[i].path,
           (unsigned long long)regions[i].gpa,
           (unsigned long long)(regions[i].gpa + regions[i].size - 1));
  walk_job job = {&cpu, regions, ram_count, vaddr, access, NULL, ""};
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
  if (!have_cr3) {
    cli_error("walk", "--ram needs --cr3");
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
