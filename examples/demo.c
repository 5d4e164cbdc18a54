/* SPDX-License-Identifier: MIT */
/* demo.c - a guided tour of the mmu library (built as mmu_demo).
 *
 * Builds 4-level page tables in 64 MiB of guest RAM with 4 KiB, 2 MiB and
 * 1 GiB pages, turns paging on and then shows: translations, every kind of
 * page fault with its decoded error code, #GP on a non-canonical address,
 * the accessed and dirty bits being set, the TLB at work (hits, a stale
 * entry, INVLPG, a CR3 write that a global page survives), the statistics
 * in perf-stat style, and finally a short run of the translation benchmark.
 *
 * Every translation is checked against what the SDM says it must be; the
 * exit status is 1 if any differs. Options: --quick (shorter benchmark),
 * --no-bench. */
#define _POSIX_C_SOURCE 200809L

/* perf stat's dTLB-loads count every translation, hits included */
#define MMU_COUNT_HITS 1
#include "../bench/bench_common.h"

#include <pthread.h>

#define RAM_BYTES (64ull << 20)
#define PT_BASE 0x100000ull /* paging structures: 1 MiB at 1 MiB */
#define PT_BYTES 0x100000ull

/* Virtual layout. */
#define VA_TEXT 0x0000000000400000ull   /* user r-x, 4K, 2 pages */
#define VA_DATA 0x0000000000600000ull   /* user rw-, 4K, NX */
#define VA_FRESH 0x0000000000601000ull  /* user rw-, A = D = 0 in the PTE */
#define VA_ABSENT 0x0000000000602000ull /* PTE not present */
#define VA_RSVD 0x0000000000603000ull   /* PTE with a reserved bit */
#define VA_REMAP 0x0000000000604000ull  /* remapped behind the TLB's back */
#define VA_BIG 0x0000000040000000ull    /* user rw-, 2M, NX */
#define VA_KTEXT 0xFFFFFFFF80000000ull  /* supervisor r-x, 2M, global */
#define VA_KMAP 0xFFFF888000000000ull   /* supervisor rw-, 1G, NX, global */
/* Physical frames. */
#define PA_TEXT 0x300000ull
#define PA_DATA 0x310000ull
#define PA_FRESH 0x311000ull
#define PA_RSVD 0x313000ull
#define PA_REMAP_OLD 0x314000ull
#define PA_REMAP_NEW 0x315000ull
#define PA_KTEXT 0x400000ull
#define PA_BIG 0x2000000ull

#define MAXPHYADDR 46 /* so bits 51:46 of an entry are reserved */
#define RSVD_BIT (1ull << 50)

typedef struct demo {
  bc_guest g;
  mmu_config cfg;
  void *storage;
  size_t storage_bytes;
  mmu_cpu cpu;
  int failures;
  int checks;
} demo;

static const char *access_name(unsigned access) {
  switch (access & 3u) {
  case MMU_WRITE:
    return "write";
  case MMU_FETCH:
    return "fetch";
  default:
    return "read ";
  }
}

static const char *size_name(uint64_t size) {
  return size == 4096 ? "4K" : size == (2ull << 20) ? "2M"
                             : size == (4ull << 20) ? "4M"
                             : size == (1ull << 30) ? "1G" : "??";
}

/* "[P W U]" with a one-line reason. */
static void decode_pfec(uint32_t ec, char *buf, size_t n) {
  snprintf(buf, n, "[%s%s%s%s%s%s] %s", ec & MMU_PFEC_P ? "P" : "-",
           ec & MMU_PFEC_W ? " W" : " R", ec & MMU_PFEC_U ? " U" : " S",
           ec & MMU_PFEC_RSVD ? " RSVD" : "", ec & MMU_PFEC_ID ? " I/D" : "",
           ec & MMU_PFEC_PK ? " PK" : "",
           !(ec & MMU_PFEC_P)      ? "not present"
           : (ec & MMU_PFEC_RSVD) ? "reserved bit set"
           : (ec & MMU_PFEC_PK)   ? "protection key"
                                  : "protection violation");
}

static void fail(demo *d, const char *fmt, uint64_t a, uint64_t b) {
  d->failures++;
  printf("      ^^^ MISMATCH: ");
  printf(fmt, (unsigned long long)a, (unsigned long long)b);
  printf("\n");
}

/* Translate and print; returns the result. */
static int xlate(demo *d, unsigned access, uint64_t va, mmu_result *r) {
  memset(r, 0, sizeof *r);
  int rc = mmu_translate(&d->cpu, va, access, r);
  printf("  CPL%u%s %s 0x%016llx -> ", d->cpu.regs.cpl,
         d->cpu.regs.ac ? " AC" : "   ", access_name(access),
         (unsigned long long)va);
  if (rc == MMU_OK) {
    printf("0x%012llx %s  ", (unsigned long long)r->paddr,
           size_name(r->page_size));
    if (r->host)
      printf("host ram+0x%llx",
             (unsigned long long)(r->host - d->g.ram));
    else
      printf("host none (not RAM)");
  } else if (rc == MMU_PAGE_FAULT) {
    char buf[96];
    decode_pfec(r->error_code, buf, sizeof buf);
    printf("#PF error 0x%02x %s", r->error_code, buf);
  } else if (rc == MMU_GP_FAULT) {
    printf("#GP(0)");
  } else {
    printf("%s", mmu_status_name(rc));
  }
  return rc;
}

static void expect_ok(demo *d, unsigned access, uint64_t va, uint64_t pa,
                      uint64_t size, const char *note) {
  mmu_result r;
  int rc = xlate(d, access, va, &r);
  printf("   %s\n", note);
  d->checks++;
  if (rc != MMU_OK) {
    fail(d, "expected MMU_OK, got status %lld%s", (uint64_t)(int64_t)rc, 0);
    return;
  }
  if (r.paddr != pa)
    fail(d, "expected paddr 0x%llx, got 0x%llx", pa, r.paddr);
  if (r.page_size != size)
    fail(d, "expected page size 0x%llx, got 0x%llx", size, r.page_size);
  uint8_t *host = pa + 8 <= d->g.size ? d->g.ram + pa : NULL;
  if (r.host != host)
    fail(d, "expected host ram+0x%llx, got %llx", pa,
         (uint64_t)(uintptr_t)r.host);
}

static void expect_pf(demo *d, unsigned access, uint64_t va, uint32_t ec,
                      const char *note) {
  mmu_result r;
  int rc = xlate(d, access, va, &r);
  printf("\n      %s\n", note);
  d->checks++;
  if (rc != MMU_PAGE_FAULT) {
    fail(d, "expected #PF, got status %lld%s", (uint64_t)(int64_t)rc, 0);
    return;
  }
  if (r.error_code != ec)
    fail(d, "expected error code 0x%llx, got 0x%llx", ec, r.error_code);
  if (r.cr2 != va)
    fail(d, "expected CR2 0x%llx, got 0x%llx", va, r.cr2);
}

static void expect_gp(demo *d, unsigned access, uint64_t va,
                      const char *note) {
  mmu_result r;
  int rc = xlate(d, access, va, &r);
  printf("   %s\n", note);
  d->checks++;
  if (rc != MMU_GP_FAULT)
    fail(d, "expected #GP, got status %lld%s", (uint64_t)(int64_t)rc, 0);
}

static void expect_eq(demo *d, const char *what, uint64_t got, uint64_t want) {
  d->checks++;
  if (got != want) {
    d->failures++;
    printf("      ^^^ MISMATCH in %s: expected %llu, got %llu\n", what,
           (unsigned long long)want, (unsigned long long)got);
  }
}

static void map_or_die(demo *d, uint64_t va, uint64_t pa, unsigned shift,
                       uint64_t flags, const char *what) {
  if (!bc_map(&d->g, va, pa, shift, flags)) {
    printf("cannot map 0x%llx\n", (unsigned long long)va);
    exit(1);
  }
  printf("    0x%016llx %s -> 0x%08llx  %c%c%c %s%s  %s\n",
         (unsigned long long)va,
         shift == 12 ? "4K" : shift == 21 ? "2M" : "1G",
         (unsigned long long)(pa & BC_ADDR_MASK),
         flags & MMU_PTE_P ? 'r' : '-', flags & MMU_PTE_W ? 'w' : '-',
         flags & MMU_PTE_XD ? '-' : 'x', flags & MMU_PTE_U ? "user" : "sup ",
         flags & MMU_PTE_G ? " G" : "  ", what);
}

static uint64_t walks(const demo *d) { return d->cpu.stats.walks; }

static void print_stats(const mmu_stats *s) {
  static char text[4096];
  printf("\n Performance counter stats for 'mmu_demo' (the tour above):\n\n");
  mmu_format_perf_stat(s, text, sizeof text);
  printf("%s", text);
}

/* ---- from reset to long mode ------------------------------------------- */

static uint64_t boot_table(demo *d) {
  uint64_t t = d->g.pt_next;
  d->g.pt_next += 4096;
  memset(d->g.ram + t, 0, 4096);
  return t;
}

static void boot_step(demo *d, const char *what, int rc, int want) {
  printf("  %-58s %s\n", what, mmu_status_name(rc));
  expect_eq(d, what, (uint64_t)(int64_t)rc, (uint64_t)(int64_t)want);
}

/* The way firmware and a kernel go: real mode, protected mode, 32-bit
 * paging with a 4 MiB page, PAE (and the #GP a bad PDPTE gives at MOV to
 * CR3), then IA-32e mode on the tour's own tables. */
static void boot_tour(demo *d) {
  mmu_regs reset;
  memset(&reset, 0, sizeof reset);
  reset.cr0 = 0x60000010; /* CD, NW, ET: the reset value */
  mmu_load_regs(&d->cpu, &reset);
  printf("  reset: CR0 0x60000010, paging off; linear = physical, 32 bits\n");
  expect_ok(d, MMU_FETCH, 0xFFFF0, 0xFFFF0, 4096, "the reset vector's page");
  expect_ok(d, MMU_READ, 0x1000FFFF0ull, 0xFFFF0, 4096,
            "a 64-bit address: its low 32 bits");
  boot_step(d, "mov cr0, PE: protected mode", mmu_write_cr0(&d->cpu, 0x11), 0);

  /* 32-bit paging: a 4 MiB page at 0xC0000000 and a 4 KiB one below */
  uint64_t dir = boot_table(d), table = boot_table(d);
  uint32_t pde4m = 0x01000000u | 0x83u, pde = (uint32_t)table | 0x7u;
  uint32_t pte = (uint32_t)PA_DATA | 0x7u;
  memcpy(d->g.ram + dir + (0xC0000000u >> 22) * 4, &pde4m, 4);
  memcpy(d->g.ram + dir + (0x00400000u >> 22) * 4, &pde, 4);
  memcpy(d->g.ram + table + 5 * 4, &pte, 4);
  boot_step(d, "mov cr3, the page directory", mmu_write_cr3(&d->cpu, dir), 0);
  boot_step(d, "mov cr4, PSE: 4 MiB pages", mmu_write_cr4(&d->cpu, 0x10), 0);
  boot_step(d, "mov cr0, PG: 32-bit paging",
            mmu_write_cr0(&d->cpu, 0x80000011), 0);
  expect_ok(d, MMU_WRITE, 0xC0123456, 0x01123456, 4 << 20,
            "a 4 MiB page (PS in the PDE, CR4.PSE)");
  expect_ok(d, MMU_READ, 0x00405ABC, PA_DATA | 0xABC, 4096,
            "4-byte PDE and PTE");

  /* PAE: a 32-byte PDPT; a bad PDPTE is #GP at the MOV to CR3 */
  uint64_t pdpt = boot_table(d), pd = boot_table(d), pt = boot_table(d);
  uint64_t e = pd | 1; /* a PDPTE has only P, PWT, PCD and the address */
  memcpy(d->g.ram + pdpt, &e, 8);
  e = pt | 7;
  memcpy(d->g.ram + pd + 2 * 8, &e, 8);
  e = PA_DATA | 7 | MMU_PTE_XD;
  memcpy(d->g.ram + pt + 8, &e, 8);
  e = pd | 3; /* R/W is reserved in a PDPTE */
  memcpy(d->g.ram + pdpt + 32, &e, 8);
  boot_step(d, "mov cr0, paging off", mmu_write_cr0(&d->cpu, 0x11), 0);
  boot_step(d, "wrmsr efer, NXE", mmu_write_efer(&d->cpu, MMU_EFER_NXE), 0);
  boot_step(d, "mov cr4, PAE", mmu_write_cr4(&d->cpu, 0x20), 0);
  boot_step(d, "mov cr3, the PDPT", mmu_write_cr3(&d->cpu, pdpt), 0);
  boot_step(d, "mov cr0, PG: PAE paging, the 4 PDPTE registers loaded",
            mmu_write_cr0(&d->cpu, 0x80000011), 0);
  expect_ok(d, MMU_READ, 0x00401ABC, PA_DATA | 0xABC, 4096,
            "PDPTE register 0, then PD and PT");
  expect_pf(d, MMU_FETCH, 0x00401000, MMU_PFEC_P | MMU_PFEC_ID,
            "XD with EFER.NXE: PAE entries have it");
  boot_step(d, "mov cr3, a PDPT whose PDPTE sets R/W (reserved): #GP",
            mmu_write_cr3(&d->cpu, pdpt + 32), MMU_GP_FAULT);

  /* IA-32e mode on the tour's 4-level tables */
  boot_step(d, "mov cr0, paging off", mmu_write_cr0(&d->cpu, 0x11), 0);
  boot_step(d, "wrmsr efer, LME | NXE",
            mmu_write_efer(&d->cpu, MMU_EFER_LME | MMU_EFER_NXE), 0);
  boot_step(d, "mov cr3, the PML4", mmu_write_cr3(&d->cpu, d->g.pml4), 0);
  boot_step(d, "mov cr0, PG: IA-32e mode, 4-level paging (EFER.LMA set)",
            mmu_write_cr0(&d->cpu, 0x80010011), 0);
  expect_eq(d, "EFER.LMA", (d->cpu.regs.efer & MMU_EFER_LMA) != 0, 1);
  expect_ok(d, MMU_READ, VA_DATA, PA_DATA, 4096, "the tour's data page");
  expect_gp(d, MMU_READ, 0x0000800000000000ull,
            "no longer 32 bits: a non-canonical address is #GP");
}

/* ---- the OS side -------------------------------------------------------- */

/* A RAM swap device for the tour. */
static uint8_t os_swap_data[64][4096];
static long os_swap_read(void *user, uint64_t slot, void *page) {
  (void)user;
  memcpy(page, os_swap_data[slot], 4096);
  return 4096;
}
static int os_swap_write(void *user, uint64_t slot, const void *page) {
  (void)user;
  memcpy(os_swap_data[slot], page, 4096);
  return 0;
}

static const char *fault_name(const mmu_fault_info *f) {
  static const char *names[] = {"no fault", "minor",    "minor (copy-on-write)",
                                "major",    "SIGSEGV",  "spurious",
                                "SIGBUS"};
  return f->fault_class <= MMU_FAULT_SIGBUS ? names[f->fault_class] : "?";
}

static void os_touch(demo *d, mmu_space *s, mmu_cpu *cpu, const char *who,
                     uint64_t va, int write, uint32_t want_class) {
  mmu_fault_info f;
  uint8_t v = 0x42;
  int rc = write ? mmu_space_write(s, cpu, va, &v, 1, &f)
                 : mmu_space_read(s, cpu, va, &v, 1, &f);
  printf("  %-7s %-5s 0x%012llx  %-22s%s\n", who, write ? "write" : "read",
         (unsigned long long)va, rc == MMU_OK || rc == MMU_PAGE_FAULT
                                     ? fault_name(&f) : mmu_status_name(rc),
         f.fault_class == MMU_FAULT_SEGV
             ? (f.si_code == MMU_SEGV_MAPERR ? "  si_code SEGV_MAPERR"
                                             : "  si_code SEGV_ACCERR")
             : "");
  expect_eq(d, "fault class", f.fault_class, want_class);
}

/* A process's memory as the kernel sees it: regions, faults by class,
 * fork and copy-on-write, swap, and the counters in the tools' formats. */
static int os_tour(demo *d) {
  enum { FRAMES = 96 };
  static _Alignas(4096) uint8_t pool[FRAMES * 4096];
  mmu_system_config sc;
  memset(&sc, 0, sizeof sc);
  sc.pool.gpa = 0x80000000ull;
  sc.pool.size = sizeof pool;
  sc.pool.host = pool;
  sc.swap.read = os_swap_read;
  sc.swap.write = os_swap_write;
  sc.swap.slots = 64;
  size_t need = mmu_system_storage_size(&sc);
  void *st = malloc(need);
  static mmu_system sys;
  static mmu_cpu cpu;
  static uint64_t tlb[MMU_TLB_STORAGE_SIZE(64, 4, MMU_FRONT_DEFAULT(64, 4)) / 8 + 1];
  static mmu_region regions[2][64];
  mmu_config cc;
  memset(&cc, 0, sizeof cc);
  cc.ram = &sc.pool;
  cc.ram_count = 1;
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr4 = MMU_CR4_PAE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  r.cr3 = sc.pool.gpa;
  r.cpl = 3;
  mmu_space parent, child;
  if (!st || mmu_system_init(&sys, &sc, st, need) ||
      mmu_init(&cpu, &cc, tlb, sizeof tlb) || mmu_load_regs(&cpu, &r) ||
      mmu_space_init(&parent, &sys, NULL, regions[0], sizeof regions[0]) ||
      mmu_space_activate(&parent, &cpu)) {
    printf("  OS set-up failed\n");
    free(st);
    return 1;
  }
  printf("  %u frames of %u KiB in the pool, 64 swap slots; %zu bytes of "
         "bookkeeping\n", FRAMES, 4, need);
  uint64_t data, heap = 0x555555a00000ull, brk;
  mmu_space_set_brk_base(&parent, heap);
  mmu_space_brk(&parent, heap + 3 * 4096, &brk);
  mmu_space_mmap(&parent, 0, 16 * 4096, MMU_PROT_READ | MMU_PROT_WRITE, 0,
                 NULL, 0, &data);
  mmu_space_mmap(&parent, 0x7ffffffde000ull, 0x21000,
                 MMU_PROT_READ | MMU_PROT_WRITE,
                 MMU_MAP_FIXED | MMU_MAP_GROWSDOWN, NULL, 0, NULL);
  mmu_space_set_start_stack(&parent, 0x7fffffffe7c0ull);
  mmu_space_mprotect(&parent, data + 4 * 4096, 4096, MMU_PROT_READ);
  char text[1024];
  mmu_space_maps(&parent, text, sizeof text);
  printf("  /proc/PID/maps:\n%s", text);
  os_touch(d, &parent, &cpu, "parent", data, 0, MMU_FAULT_MINOR);
  os_touch(d, &parent, &cpu, "parent", data, 1, MMU_FAULT_MINOR);
  os_touch(d, &parent, &cpu, "parent", data + 4096, 1, MMU_FAULT_MINOR);
  os_touch(d, &parent, &cpu, "parent", data + 4 * 4096, 1, MMU_FAULT_SEGV);
  os_touch(d, &parent, &cpu, "parent", 0x10000, 0, MMU_FAULT_SEGV);
  os_touch(d, &parent, &cpu, "parent", 0x7ffffffd0000ull, 1, MMU_FAULT_MINOR);
  printf("  fork\n");
  /* MAP_SHARED | MAP_ANONYMOUS: one object, its pages the same in both */
  static mmu_object shm;
  static uint64_t shm_pages[4];
  uint64_t shared;
  mmu_object_init(&shm, &sys, 4, NULL, shm_pages, sizeof shm_pages);
  mmu_space_mmap_object(&parent, 0, 4 * 4096, MMU_PROT_READ | MMU_PROT_WRITE,
                        0, &shm, 0, &shared);
  os_touch(d, &parent, &cpu, "parent", shared, 1, MMU_FAULT_MINOR);
  mmu_space_fork(&parent, &child, regions[1], sizeof regions[1]);
  mmu_space_activate(&child, &cpu);
  os_touch(d, &child, &cpu, "child", data, 0, MMU_FAULT_NONE);
  os_touch(d, &child, &cpu, "child", data, 1, MMU_FAULT_COW);
  uint8_t seen = 7;
  mmu_space_write(&child, &cpu, shared, &seen, 1, NULL);
  printf("  child writes 7 to the MAP_SHARED page\n");
  mmu_space_destroy(&child);
  printf("  child exits\n");
  mmu_space_activate(&parent, &cpu);
  mmu_space_read(&parent, &cpu, shared, &seen, 1, NULL);
  printf("  parent reads it: %u (shared, no copy)\n", seen);
  expect_eq(d, "shared byte", seen, 7);
  os_touch(d, &parent, &cpu, "parent", data, 1, MMU_FAULT_MINOR);
  /* mremap: the data region's first 4 pages grow to 32; with no room
   * where they are, they move, their pages with them (no fault, no copy) */
  uint64_t moved = 0;
  int mrc = mmu_space_mremap(&parent, data, 4 * 4096, 32 * 4096,
                             MMU_MREMAP_MAYMOVE, 0, &moved);
  printf("  mremap 4 -> 32 pages: 0x%012llx -> 0x%012llx (%s)\n",
         (unsigned long long)data, (unsigned long long)moved,
         mmu_status_name(mrc));
  expect_eq(d, "mremap", (uint64_t)(int64_t)mrc, MMU_OK);
  data = moved;
  os_touch(d, &parent, &cpu, "parent", data, 0, MMU_FAULT_NONE);
  os_touch(d, &parent, &cpu, "parent", data + 20 * 4096, 1, MMU_FAULT_MINOR);
  uint32_t got = 0;
  mmu_system_reclaim(&sys, 2, &got);
  printf("  reclaim: %u pages to swap\n", got);
  os_touch(d, &parent, &cpu, "parent", data, 0, MMU_FAULT_MAJOR);
  printf("  /usr/bin/time -v:\n");
  mmu_format_time_v(mmu_space_rusage(&parent), text, sizeof text);
  printf("%s", text);
  printf("  perf stat (the cpu's TLB and MMU events):\n");
  mmu_format_perf_stat(&cpu.stats, text, sizeof text);
  printf("%s", text);
  printf("  /proc/vmstat:\n");
  mmu_format_vmstat(mmu_system_vmstat(&sys), text, sizeof text);
  printf("%s", text);
  mmu_space_destroy(&parent);
  expect_eq(d, "shared object's mappings after exit",
            mmu_object_mappings(&shm), 0);
  mmu_usage u;
  mmu_system_usage(&sys, &u);
  expect_eq(d, "frames free after exit", u.frames_free, u.frames_total - 1);
  expect_eq(d, "swap slots used after exit", u.swap_used, 0);
  free(st);
  return 0;
}

/* A threaded process (clone with CLONE_VM): two vCPU threads, each with
 * its own cpu on the one space, write their own slot of every page while
 * the main thread reclaims. A vCPU takes the OS lock only for a fault, and
 * leaves guest code (mmu_cpu_leave) while it holds it; it applies the OS
 * side's shootdowns at its interrupt windows (mmu_cpu_sync). SPEC 2.3. */
enum { TH_PAGES = 24, TH_ROUNDS = 20000 };
typedef struct th_vcpu {
  mmu_cpu cpu;
  uint64_t tlb[MMU_TLB_STORAGE_SIZE(64, 4, MMU_FRONT_DEFAULT(64, 4)) / 8 + 1];
  mmu_space *space;
  pthread_mutex_t *lock;
  unsigned id, faults, lost;
  int done; /* atomic */
} th_vcpu;

static void *th_run(void *arg) {
  th_vcpu *v = arg;
  uint32_t expect[TH_PAGES] = {0};
  mmu_cpu_enter(&v->cpu);
  for (unsigned n = 0; n < TH_ROUNDS; n++) {
    uint64_t page = (n * 7 + v->id) % TH_PAGES;
    uint64_t va = 0x10000000ull + page * 4096 + v->id * 8;
    for (unsigned access = MMU_READ;; access = MMU_WRITE) {
      mmu_result r;
      mmu_cpu_sync(&v->cpu); /* the interrupt window */
      while (mmu_translate(&v->cpu, va, access, &r) == MMU_PAGE_FAULT) {
        mmu_cpu_leave(&v->cpu);
        pthread_mutex_lock(v->lock);
        mmu_space_fault(v->space, r.cr2, r.error_code, NULL);
        pthread_mutex_unlock(v->lock);
        mmu_cpu_enter(&v->cpu);
        v->faults++;
      }
      uint32_t *slot = (uint32_t *)(void *)r.host;
      if (access == MMU_READ) {
        v->lost += *slot != expect[page];
        continue;
      }
      *slot = ++expect[page];
      break;
    }
  }
  mmu_cpu_leave(&v->cpu);
  __atomic_store_n(&v->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static int os_threads(demo *d) {
  enum { FRAMES = 40 };
  static _Alignas(4096) uint8_t pool[FRAMES * 4096];
  static uint64_t sys_storage[8192];
  static mmu_region regions[64];
  static mmu_system sys;
  static th_vcpu v[2];
  static mmu_space proc;
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  mmu_system_config sc;
  memset(&sc, 0, sizeof sc);
  sc.pool = (mmu_ram_region){.gpa = 0x80000000ull, .size = sizeof pool,
                             .host = pool};
  sc.swap.read = os_swap_read;
  sc.swap.write = os_swap_write;
  sc.swap.slots = 64;
  mmu_config cc;
  memset(&cc, 0, sizeof cc);
  cc.ram = &sc.pool;
  cc.ram_count = 1;
  mmu_regs r;
  memset(&r, 0, sizeof r);
  r.cr0 = MMU_CR0_PE | MMU_CR0_PG | MMU_CR0_WP;
  r.cr4 = MMU_CR4_PAE;
  r.efer = MMU_EFER_LME | MMU_EFER_LMA | MMU_EFER_NXE;
  r.cr3 = sc.pool.gpa;
  r.cpl = 3;
  if (mmu_system_storage_size(&sc) > sizeof sys_storage ||
      mmu_system_init(&sys, &sc, sys_storage, sizeof sys_storage) ||
      mmu_space_init(&proc, &sys, NULL, regions, sizeof regions) ||
      mmu_space_mmap(&proc, 0x10000000ull, TH_PAGES * 4096,
                     MMU_PROT_READ | MMU_PROT_WRITE, MMU_MAP_FIXED, NULL, 0,
                     NULL)) {
    printf("  set-up failed\n");
    return 1;
  }
  pthread_t t[2];
  for (unsigned i = 0; i < 2; i++) {
    v[i].space = &proc;
    v[i].lock = &lock;
    v[i].id = i;
    if (mmu_init(&v[i].cpu, &cc, v[i].tlb, sizeof v[i].tlb) ||
        mmu_load_regs(&v[i].cpu, &r) || mmu_space_activate(&proc, &v[i].cpu))
      return 1;
    mmu_cpu_leave(&v[i].cpu); /* managed: the OS side posts, never touches */
  }
  for (unsigned i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, th_run, &v[i]);
  uint32_t reclaimed = 0;
  while (!__atomic_load_n(&v[0].done, __ATOMIC_ACQUIRE) ||
         !__atomic_load_n(&v[1].done, __ATOMIC_ACQUIRE)) {
    uint32_t got = 0;
    pthread_mutex_lock(&lock);
    mmu_system_reclaim(&sys, 4, &got);
    pthread_mutex_unlock(&lock);
    reclaimed += got;
  }
  for (unsigned i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  printf("  2 vCPU threads x %u writes on %u pages in %u frames; main thread "
         "reclaimed %u pages meanwhile\n  faults %u + %u, swapped out %llu, "
         "in %llu; writes lost: %u\n",
         TH_ROUNDS, TH_PAGES, FRAMES, reclaimed, v[0].faults, v[1].faults,
         (unsigned long long)sys.vm.pswpout, (unsigned long long)sys.vm.pswpin,
         v[0].lost + v[1].lost);
  expect_eq(d, "writes lost", v[0].lost + v[1].lost, 0);
  mmu_space_destroy(&proc);
  return 0;
}

int main(int argc, char **argv) {
  int quick = 0, bench = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--no-bench"))
      bench = 0;
    else {
      fprintf(stderr, "usage: %s [--quick] [--no-bench]\n", argv[0]);
      return 2;
    }
  }
  demo *d = (demo *)calloc(1, sizeof *d);
  if (!d)
    return 1;
  printf("mmu %s: an x86-64 MMU for emulators - a guided tour\n\n",
         mmu_version_string());

  /* ---- 1. set-up ------------------------------------------------------ */
  printf("1. Guest set-up\n");
  if (bc_guest_init(&d->g, RAM_BYTES, PT_BASE, PT_BYTES)) {
    printf("cannot allocate guest RAM\n");
    return 1;
  }
  d->cfg.ram = &d->g.region;
  d->cfg.ram_count = 1;
  d->cfg.maxphyaddr = MAXPHYADDR;
  d->storage_bytes = mmu_tlb_storage_size(&d->cfg);
  d->storage = malloc(d->storage_bytes);
  int rc = d->storage ? mmu_init(&d->cpu, &d->cfg, d->storage,
                                 d->storage_bytes)
                      : MMU_ERR_STORAGE;
  if (rc != MMU_OK) {
    printf("mmu_init: %s\n", mmu_status_name(rc));
    return 1;
  }
  printf("  %llu MiB of guest RAM at gpa 0; TLB %u sets x %u ways, %zu bytes "
         "of storage; MAXPHYADDR %d\n",
         (unsigned long long)(RAM_BYTES >> 20), d->cpu.tlb_set_mask + 1,
         d->cpu.tlb_ways, d->storage_bytes, MAXPHYADDR);
  printf("  mappings (paging structures allocated from gpa 0x%llx):\n",
         (unsigned long long)PT_BASE);
  const uint64_t urx = MMU_PTE_P | MMU_PTE_U | MMU_PTE_A;
  const uint64_t urw = BC_PTE_RW | MMU_PTE_XD;
  map_or_die(d, VA_TEXT, PA_TEXT, 12, urx, "program text");
  map_or_die(d, VA_TEXT + 0x1000, PA_TEXT + 0x1000, 12, urx, "program text");
  map_or_die(d, VA_DATA, PA_DATA, 12, urw, "data");
  map_or_die(d, VA_FRESH, PA_FRESH, 12, MMU_PTE_P | MMU_PTE_W | MMU_PTE_U |
                                            MMU_PTE_XD,
             "data, A = D = 0");
  map_or_die(d, VA_RSVD, PA_RSVD | RSVD_BIT, 12, urw,
             "data, bit 50 set (reserved above MAXPHYADDR)");
  map_or_die(d, VA_REMAP, PA_REMAP_OLD, 12, urw, "data, remapped later");
  map_or_die(d, VA_BIG, PA_BIG, 21, urw, "heap, 2 MiB page");
  map_or_die(d, VA_KTEXT, PA_KTEXT, 21, MMU_PTE_P | MMU_PTE_A | MMU_PTE_G,
             "kernel text");
  map_or_die(d, VA_KMAP, 0, 30,
             MMU_PTE_P | MMU_PTE_W | MMU_PTE_A | MMU_PTE_D | MMU_PTE_G |
                 MMU_PTE_XD,
             "kernel direct map");
  printf("    0x%016llx    not present\n", (unsigned long long)VA_ABSENT);
  printf("  note: the 1 GiB page maps gpa 0..1 GiB but only the first %llu "
         "MiB are RAM;\n        the rest translates with no host pointer "
         "(as MMIO would).\n",
         (unsigned long long)(RAM_BYTES >> 20));
  printf("  %llu paging-structure pages\n",
         (unsigned long long)d->g.pt_pages);
  uint64_t cr4x = MMU_CR4_PGE | MMU_CR4_SMEP | MMU_CR4_SMAP;
  rc = bc_enable_paging(&d->cpu, &d->g, cr4x, 3);
  if (rc != MMU_OK) {
    printf("mmu_load_regs: %s\n", mmu_status_name(rc));
    return 1;
  }
  printf("  paging on: CR0=0x%llx CR3=0x%llx CR4=0x%llx (PAE PGE SMEP SMAP) "
         "EFER=0x%llx\n",
         (unsigned long long)d->cpu.regs.cr0,
         (unsigned long long)d->cpu.regs.cr3,
         (unsigned long long)d->cpu.regs.cr4,
         (unsigned long long)d->cpu.regs.efer);

  mmu_trace tr;
  mmu_result r;
  memset(&tr, 0, sizeof tr);
  rc = mmu_reference_translate(&d->cpu, VA_TEXT + 0x123, MMU_READ, &r, &tr);
  printf("  the walk of 0x%llx, as the reference walker sees it:\n",
         (unsigned long long)(VA_TEXT + 0x123));
  static const char *const lvl[6] = {"", "PTE  ", "PDE  ", "PDPTE",
                                     "PML4E", "PML5E"};
  for (uint32_t i = 0; i < tr.count && i < 5; i++)
    printf("    %s at gpa 0x%06llx = 0x%016llx\n",
           lvl[tr.step[i].level < 6 ? tr.step[i].level : 0],
           (unsigned long long)tr.step[i].entry_gpa,
           (unsigned long long)tr.step[i].entry);
  d->checks++;
  if (rc != MMU_OK || tr.count != 4 || r.paddr != PA_TEXT + 0x123)
    fail(d, "reference walk: status %lld, %llu steps", (uint64_t)(int64_t)rc,
         tr.count);

  /* ---- 2. translations ------------------------------------------------ */
  printf("\n2. Translations\n");
  expect_ok(d, MMU_READ, VA_TEXT + 0x123, PA_TEXT + 0x123, 4096, "text");
  expect_ok(d, MMU_FETCH, VA_TEXT + 0x1ff0, PA_TEXT + 0x1ff0, 4096,
            "execute");
  expect_ok(d, MMU_WRITE, VA_DATA + 0x10, PA_DATA + 0x10, 4096, "data");
  expect_ok(d, MMU_READ, VA_BIG + 0x123456, PA_BIG + 0x123456, 2ull << 20,
            "inside a 2 MiB page");
  mmu_set_cpl(&d->cpu, 0);
  expect_ok(d, MMU_FETCH, VA_KTEXT + 0x1000, PA_KTEXT + 0x1000, 2ull << 20,
            "kernel text");
  expect_ok(d, MMU_WRITE, VA_KMAP + 0x123458, 0x123458, 1ull << 30,
            "1 GiB page");
  expect_ok(d, MMU_READ, VA_KMAP + 0x20000000, 0x20000000, 1ull << 30,
            "1 GiB page, beyond RAM");

  /* ---- 3. faults ------------------------------------------------------ */
  printf("\n3. Faults\n");
  mmu_set_cpl(&d->cpu, 3);
  expect_pf(d, MMU_READ, VA_ABSENT, MMU_PFEC_U, "PTE.P = 0");
  expect_pf(d, MMU_WRITE, VA_ABSENT + 8, MMU_PFEC_U | MMU_PFEC_W,
            "PTE.P = 0, on a write");
  expect_pf(d, MMU_WRITE, VA_TEXT + 0x40,
            MMU_PFEC_P | MMU_PFEC_W | MMU_PFEC_U,
            "write to a read-only page at CPL 3");
  expect_pf(d, MMU_FETCH, VA_DATA, MMU_PFEC_P | MMU_PFEC_U | MMU_PFEC_ID,
            "fetch from an XD page (EFER.NXE = 1)");
  expect_pf(d, MMU_READ, VA_KMAP + 0x1000, MMU_PFEC_P | MMU_PFEC_U,
            "user read of a supervisor page");
  expect_pf(d, MMU_READ, VA_RSVD + 0x20,
            MMU_PFEC_P | MMU_PFEC_U | MMU_PFEC_RSVD,
            "bit 50 of the PTE is reserved with MAXPHYADDR 46");
  expect_gp(d, MMU_READ, 0x0000800000000000ull,
            "non-canonical (bits 63:47 differ)");
  expect_gp(d, MMU_WRITE, 0xFFFF7FFFFFFFF000ull, "non-canonical");
  mmu_set_cpl(&d->cpu, 0);
  expect_pf(d, MMU_WRITE, VA_KTEXT + 0x2000, MMU_PFEC_P | MMU_PFEC_W,
            "supervisor write to a read-only page with CR0.WP = 1");
  expect_pf(d, MMU_FETCH, VA_TEXT + 0x10, MMU_PFEC_P | MMU_PFEC_ID,
            "SMEP: supervisor fetch from a user page");
  expect_pf(d, MMU_READ, VA_DATA + 0x10, MMU_PFEC_P,
            "SMAP: supervisor read of a user page, EFLAGS.AC = 0");
  mmu_set_ac(&d->cpu, 1);
  expect_ok(d, MMU_READ, VA_DATA + 0x10, PA_DATA + 0x10, 4096,
            "SMAP with EFLAGS.AC = 1 (STAC): allowed");
  expect_pf(d, MMU_READ | MMU_IMPLICIT, VA_DATA + 0x10, MMU_PFEC_P,
            "SMAP, implicit supervisor access (e.g. GDT read): AC ignored");
  mmu_set_ac(&d->cpu, 0);

  /* ---- 4. accessed and dirty ----------------------------------------- */
  printf("\n4. Accessed and dirty bits\n");
  uint64_t *pte = bc_lookup(&d->g, VA_FRESH, 1);
  mmu_set_cpl(&d->cpu, 3);
  printf("  PTE of 0x%llx before:       0x%016llx  A=%d D=%d\n",
         (unsigned long long)VA_FRESH, (unsigned long long)*pte,
         (int)((*pte >> 5) & 1), (int)((*pte >> 6) & 1));
  expect_eq(d, "A before", *pte & (MMU_PTE_A | MMU_PTE_D), 0);
  xlate(d, MMU_READ, VA_FRESH, &r);
  printf("\n  PTE after the read:          0x%016llx  A=%d D=%d\n",
         (unsigned long long)*pte, (int)((*pte >> 5) & 1),
         (int)((*pte >> 6) & 1));
  expect_eq(d, "A/D after read", *pte & (MMU_PTE_A | MMU_PTE_D), MMU_PTE_A);
  xlate(d, MMU_WRITE, VA_FRESH + 4, &r);
  printf("\n  PTE after the write:         0x%016llx  A=%d D=%d\n",
         (unsigned long long)*pte, (int)((*pte >> 5) & 1),
         (int)((*pte >> 6) & 1));
  expect_eq(d, "A/D after write", *pte & (MMU_PTE_A | MMU_PTE_D),
            MMU_PTE_A | MMU_PTE_D);
  printf("  (the read cached a clean entry; the write found it clean, walked "
         "again and set D)\n");

  /* ---- 5. TLB --------------------------------------------------------- */
  printf("\n5. The TLB\n");
  uint64_t w0 = walks(d);
  expect_ok(d, MMU_READ, VA_REMAP, PA_REMAP_OLD, 4096, "first access: miss");
  printf("      page walks +%llu\n", (unsigned long long)(walks(d) - w0));
  expect_eq(d, "walks on a miss", walks(d) - w0, 1);
  w0 = walks(d);
  expect_ok(d, MMU_READ, VA_REMAP + 8, PA_REMAP_OLD + 8, 4096,
            "again: TLB hit");
  printf("      page walks +%llu\n", (unsigned long long)(walks(d) - w0));
  expect_eq(d, "walks on a hit", walks(d) - w0, 0);
  pte = bc_lookup(&d->g, VA_REMAP, 1);
  *pte = (*pte & ~BC_ADDR_MASK) | PA_REMAP_NEW;
  printf("  the guest rewrites the PTE to 0x%llx and does not INVLPG:\n",
         (unsigned long long)PA_REMAP_NEW);
  expect_ok(d, MMU_READ, VA_REMAP, PA_REMAP_OLD, 4096,
            "stale entry still used (TLBs are not coherent, SDM 4.10.4.2)");
  mmu_invlpg(&d->cpu, VA_REMAP);
  printf("  INVLPG 0x%llx\n", (unsigned long long)VA_REMAP);
  w0 = walks(d);
  expect_ok(d, MMU_READ, VA_REMAP, PA_REMAP_NEW, 4096, "new mapping");
  expect_eq(d, "walks after INVLPG", walks(d) - w0, 1);

  mmu_set_cpl(&d->cpu, 0);
  mmu_flush_tlb(&d->cpu);
  printf("  a global page across a CR3 write (CR4.PGE = 1), from an empty "
         "TLB:\n");
  expect_ok(d, MMU_READ, VA_KMAP + 0x5000, 0x5000, 1ull << 30,
            "kernel, G = 1");
  mmu_set_cpl(&d->cpu, 3);
  expect_ok(d, MMU_READ, VA_DATA, PA_DATA, 4096, "user, G = 0");
  uint32_t before = mmu_tlb_count(&d->cpu);
  rc = mmu_write_cr3(&d->cpu, d->g.pml4);
  uint32_t after = mmu_tlb_count(&d->cpu);
  printf("  MOV CR3, 0x%llx: %s, TLB entries %u -> %u\n",
         (unsigned long long)d->g.pml4, mmu_status_name(rc), before, after);
  expect_eq(d, "mmu_write_cr3 status", (uint64_t)(int64_t)rc, MMU_OK);
  expect_eq(d, "entries surviving CR3 (globals)", after, 1);
  mmu_set_cpl(&d->cpu, 0);
  w0 = walks(d);
  expect_ok(d, MMU_READ, VA_KMAP + 0x5008, 0x5008, 1ull << 30,
            "global entry survived: hit");
  expect_eq(d, "walks for the global page", walks(d) - w0, 0);
  mmu_set_cpl(&d->cpu, 3);
  w0 = walks(d);
  expect_ok(d, MMU_READ, VA_DATA, PA_DATA, 4096, "non-global: walked again");
  expect_eq(d, "walks for the non-global page", walks(d) - w0, 1);

  /* ---- 6. statistics -------------------------------------------------- */
  print_stats(&d->cpu.stats);

  /* ---- 7. from reset to long mode ------------------------------------ */
  printf("\n7. From reset to long mode: every paging mode on the way\n");
  boot_tour(d);

  /* ---- 8. the OS side ------------------------------------------------- */
  printf("\n8. The OS side: a process, its faults, fork and swap\n");
  if (os_tour(d))
    d->failures++;
  printf("\n   A threaded process\n");
  if (os_threads(d))
    d->failures++;
  printf("\n  %d checks, %d mismatches\n", d->checks, d->failures);

  /* ---- 9. benchmark --------------------------------------------------- */
  int bench_rc = 0;
  if (bench) {
    bc_opts o;
    memset(&o, 0, sizeof o);
    o.div = quick ? 200 : 20;
    o.reps = quick ? 3 : 5;
    printf("\n9. Benchmark (bench_translate, %ux fewer iterations; run "
           "bench_translate for the full figures)\n",
           o.div);
    bench_rc = bc_bench_main(&o, stdout);
  }

  int failures = d->failures;
  free(d->storage);
  bc_guest_free(&d->g);
  free(d);
  if (failures) {
    printf("\nFAILED: %d translations did not come out as expected\n",
           failures);
    return 1;
  }
  return bench_rc;
}
