/* SPDX-License-Identifier: MIT */
/* test_misuse.c - every API function answers misuse with an error, never a
 * crash (SPEC.md 2.5): NULL pointers and out-of-range arguments are
 * MMU_ERR_ARG; an object never initialised (zeroed, or garbage), or
 * destroyed, is MMU_ERR_UNINIT. The inline hot path does not check; in a
 * debug build it asserts, which the last tests hold. */
#undef NDEBUG /* the hot path's MMU_ASSERTs are compiled into this file */
#include <signal.h>
#include <string.h>

#include "os_test.h"

static mmu_cpu zero_cpu, junk_cpu;
static mmu_system zero_sys, junk_sys;
static mmu_space zero_space, junk_space;
static mmu_object zero_obj, junk_obj;
static mmu_policy zero_pol, junk_pol;

static void make_junk(void) {
  memset(&junk_cpu, 0xA5, sizeof junk_cpu);
  memset(&junk_sys, 0xA5, sizeof junk_sys);
  memset(&junk_space, 0xA5, sizeof junk_space);
  memset(&junk_obj, 0xA5, sizeof junk_obj);
  memset(&junk_pol, 0xA5, sizeof junk_pol);
  memset(&zero_cpu, 0, sizeof zero_cpu);
  memset(&zero_sys, 0, sizeof zero_sys);
  memset(&zero_space, 0, sizeof zero_space);
  memset(&zero_obj, 0, sizeof zero_obj);
  memset(&zero_pol, 0, sizeof zero_pol);
}

TestSuite(misuse, .init = make_junk);

/* Every cpu function: NULL is ARG; zeroed and garbage cpus are UNINIT. */
#define FOR_BAD_CPUS(call_with_cpu)                                            \
  do {                                                                         \
    mmu_cpu *cpu = NULL;                                                       \
    EQ(call_with_cpu, MMU_ERR_ARG);                                            \
    cpu = &zero_cpu;                                                           \
    EQ(call_with_cpu, MMU_ERR_UNINIT);                                         \
    cpu = &junk_cpu;                                                           \
    EQ(call_with_cpu, MMU_ERR_UNINIT);                                         \
  } while (0)

Test(misuse, cpu_functions) {
  mmu_result r;
  mmu_result two[2];
  mmu_regs regs;
  memset(&regs, 0, sizeof regs);
  FOR_BAD_CPUS(mmu_write_cr0(cpu, MMU_CR0_PE));
  FOR_BAD_CPUS(mmu_write_cr3(cpu, 0x1000));
  FOR_BAD_CPUS(mmu_write_cr4(cpu, MMU_CR4_PAE));
  FOR_BAD_CPUS(mmu_write_efer(cpu, 0));
  FOR_BAD_CPUS(mmu_write_pkru(cpu, 0));
  FOR_BAD_CPUS(mmu_set_cpl(cpu, 3));
  FOR_BAD_CPUS(mmu_set_ac(cpu, 1));
  FOR_BAD_CPUS(mmu_load_regs(cpu, &regs));
  FOR_BAD_CPUS(mmu_invlpg(cpu, 0x1000));
  FOR_BAD_CPUS(mmu_invpcid(cpu, 2, 0, 0));
  FOR_BAD_CPUS(mmu_flush_tlb(cpu));
  FOR_BAD_CPUS(mmu_cpu_enter(cpu));
  FOR_BAD_CPUS(mmu_cpu_leave(cpu));
  FOR_BAD_CPUS(mmu_cpu_apply_shootdowns(cpu));
  FOR_BAD_CPUS(mmu_translate_slow(cpu, 0x1000, MMU_READ, &r));
  FOR_BAD_CPUS(mmu_translate_span(cpu, 0x1000, 8, MMU_READ, two));
  FOR_BAD_CPUS(mmu_reference_translate(cpu, 0x1000, MMU_READ, &r, NULL));
  FOR_BAD_CPUS(mmu_stats_reset(cpu));
  mmu_nested off;
  memset(&off, 0, sizeof off);
  FOR_BAD_CPUS(mmu_set_nested(cpu, &off));
  FOR_BAD_CPUS(mmu_nested_translate(cpu, 0x1000, MMU_READ, &r));
  FOR_BAD_CPUS(mmu_invept(cpu, 2, 0));
  FOR_BAD_CPUS(mmu_invvpid(cpu, 2, 0, 0));
  FOR_BAD_CPUS(mmu_invlpga(cpu, 0, 0));
  FOR_BAD_CPUS(mmu_cr_exit(cpu, &r));
  EQ(mmu_tlb_count(NULL), 0);
  EQ(mmu_tlb_count(&junk_cpu), 0);
}

Test(misuse, cpu_arguments) {
  osw w;
  mmu_space s;
  ost_world(&w, &s, 64, 0, 0);
  mmu_cpu *cpu = &w.cpu;
  mmu_result r, two[2];
  /* what the inline hit trusts, the miss path checks */
  EQ(mmu_translate_slow(cpu, 0x1000, MMU_READ, NULL), MMU_ERR_ARG);
  EQ(mmu_translate_slow(cpu, 0x1000, 3, &r), MMU_ERR_ARG);
  EQ(mmu_translate_slow(cpu, 0x1000, 99, &r), MMU_ERR_ARG);
  EQ(mmu_translate_slow(cpu, 0x1000, MMU_IMPLICIT | 3, &r), MMU_ERR_ARG);
  EQ(mmu_reference_translate(cpu, 0x1000, MMU_READ, NULL, NULL), MMU_ERR_ARG);
  EQ(mmu_reference_translate(cpu, 0x1000, 8, &r, NULL), MMU_ERR_ARG);
  EQ(mmu_translate_span(cpu, 0x1000, 0, MMU_READ, two), MMU_ERR_ARG);
  EQ(mmu_translate_span(cpu, 0x1000, 4097, MMU_READ, two), MMU_ERR_ARG);
  EQ(mmu_translate_span(cpu, 0x1000, 8, MMU_READ, NULL), MMU_ERR_ARG);
  EQ(mmu_translate_span(cpu, 0x1000, 8, 5 << 1, two), MMU_ERR_ARG);
  EQ(mmu_set_cpl(cpu, 4), MMU_ERR_ARG);
  EQ(cpu->regs.cpl, 3); /* unchanged */
  EQ(mmu_load_regs(cpu, NULL), MMU_ERR_ARG);
  EQ(mmu_set_nested(cpu, NULL), MMU_ERR_ARG);
  EQ(mmu_nested_translate(cpu, 0x1000, MMU_READ, NULL), MMU_ERR_ARG);
  EQ(mmu_nested_translate(cpu, 0x1000, 3, &r), MMU_ERR_ARG);
  EQ(mmu_invept(cpu, 7, 0), MMU_ERR_ARG);
  EQ(mmu_invvpid(cpu, 9, 1, 0), MMU_ERR_ARG);
  EQ(mmu_cr_exit(cpu, NULL), MMU_ERR_ARG);
  EQ(mmu_cr_exit(cpu, &r), MMU_ERR_STATE); /* no exit so far */
  /* a valid kind still goes through */
  EQ(mmu_translate_slow(cpu, 0x1000, MMU_READ | MMU_IMPLICIT, &r),
     MMU_PAGE_FAULT);
  ost_world_free(&w, &s);
}

Test(misuse, init_arguments) {
  mmu_cpu cpu;
  static uint8_t storage[1 << 16] __attribute__((aligned(64)));
  EQ(mmu_init(NULL, NULL, storage, sizeof storage), MMU_ERR_ARG);
  EQ(mmu_init(&cpu, NULL, NULL, sizeof storage), MMU_ERR_STORAGE);
  EQ(mmu_init(&cpu, NULL, storage + 1, sizeof storage - 1), MMU_ERR_STORAGE);
  EQ(mmu_init(&cpu, NULL, storage, 64), MMU_ERR_STORAGE);
  EQ(mmu_init_versioned(&cpu, sizeof cpu - 8, MMU_VERSION, NULL, storage,
                        sizeof storage),
     MMU_ERR_VERSION);
  EQ(mmu_init_versioned(&cpu, sizeof cpu, MMU_VERSION + 0x100, NULL, storage,
                        sizeof storage),
     MMU_ERR_VERSION);
  mmu_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.tlb_sets = 3;
  EQ(mmu_init(&cpu, &cfg, storage, sizeof storage), MMU_ERR_CONFIG);
  EQ(mmu_tlb_storage_size(&cfg), 0);
  /* a cpu inited once is usable; one whose magic is gone is not */
  OK(mmu_init(&cpu, NULL, storage, sizeof storage));
  OK(mmu_set_cpl(&cpu, 0));
  cpu.version ^= 0x100; /* as a struct of another release would read */
  EQ(mmu_set_cpl(&cpu, 0), MMU_ERR_UNINIT);
}

Test(misuse, policy_functions) {
  uint32_t f;
  mmu_policy *bad[] = {NULL, &zero_pol, &junk_pol};
  for (int i = 0; i < 3; i++) {
    int want = i ? MMU_ERR_UNINIT : MMU_ERR_ARG;
    EQ(mmu_policy_insert(bad[i], 0), want);
    EQ(mmu_policy_remove(bad[i], 0), want);
    EQ(mmu_policy_access(bad[i], 0), want);
    EQ(mmu_policy_victim(bad[i], NULL, NULL, &f), want);
  }
  mmu_policy p;
  static uint64_t storage[1024];
  EQ(mmu_policy_init(NULL, MMU_POLICY_LRU, 8, storage, sizeof storage),
     MMU_ERR_ARG);
  EQ(mmu_policy_init(&p, 9, 8, storage, sizeof storage), MMU_ERR_ARG);
  EQ(mmu_policy_init(&p, MMU_POLICY_LRU, 0, storage, sizeof storage),
     MMU_ERR_ARG);
  EQ(mmu_policy_init(&p, MMU_POLICY_LRU, 8, NULL, sizeof storage),
     MMU_ERR_STORAGE);
  OK(mmu_policy_init(&p, MMU_POLICY_LRU, 8, storage, sizeof storage));
  EQ(mmu_policy_insert(&p, 8), MMU_ERR_ARG);
  EQ(mmu_policy_remove(&p, 8), MMU_ERR_ARG);
  EQ(mmu_policy_access(&p, 1u << 31), MMU_ERR_ARG);
  EQ(mmu_policy_victim(&p, NULL, NULL, NULL), MMU_ERR_ARG);
  EQ(mmu_policy_victim(&p, NULL, NULL, &f), MMU_ERR_NOMEM);
  OK(mmu_policy_insert(&p, 7));
  OK(mmu_policy_insert(&p, 7)); /* idempotent */
  OK(mmu_policy_victim(&p, NULL, NULL, &f));
  EQ(f, 7);
  uint32_t trace[2] = {0, 5};
  uint64_t misses;
  EQ(mmu_trace_simulate(MMU_POLICY_LRU, trace, 2, 4, 2, storage,
                        sizeof storage, &misses),
     MMU_ERR_ARG); /* page 5 of 4 */
  EQ(mmu_trace_simulate(MMU_POLICY_LRU, NULL, 2, 8, 2, storage,
                        sizeof storage, &misses),
     MMU_ERR_ARG);
  EQ(mmu_trace_simulate(MMU_POLICY_LRU, trace, 2, 8, 2, storage,
                        sizeof storage, NULL),
     MMU_ERR_ARG);
  EQ(mmu_trace_opt(trace, 2, 4, 2, storage, sizeof storage, &misses),
     MMU_ERR_ARG);
  EQ(mmu_trace_opt(NULL, 2, 8, 2, storage, sizeof storage, &misses),
     MMU_ERR_ARG);
  EQ(mmu_trace_opt(trace, 2, 8, 2, NULL, 0, &misses), MMU_ERR_STORAGE);
}

/* Every system and space function on NULL, zeroed and garbage objects. */
Test(misuse, system_space_object_functions) {
  mmu_usage u;
  mmu_system *bad_sys[] = {NULL, &zero_sys, &junk_sys};
  for (int i = 0; i < 3; i++) {
    int want = i ? MMU_ERR_UNINIT : MMU_ERR_ARG;
    EQ(mmu_system_usage(bad_sys[i], &u), want);
    EQ(mmu_system_reclaim(bad_sys[i], 1, NULL), want);
    EQ(mmu_system_age(bad_sys[i]), 0);
    cr_assert_null(mmu_system_vmstat(bad_sys[i]));
    mmu_space s;
    uint64_t st[64];
    EQ(mmu_space_init(&s, bad_sys[i], NULL, st, sizeof st), want);
    mmu_object o;
    EQ(mmu_object_init(&o, bad_sys[i], 1, NULL, st, sizeof st), want);
  }
  mmu_space *bad[] = {NULL, &zero_space, &junk_space};
  for (int i = 0; i < 3; i++) {
    mmu_space *s = bad[i];
    int want = i ? MMU_ERR_UNINIT : MMU_ERR_ARG;
    uint64_t out, st[64];
    mmu_space child;
    mmu_fault_info info;
    mmu_result r;
    char buf[8] = "x", byte = 0;
    uint32_t n = 99;
    EQ(mmu_space_fork(s, &child, st, sizeof st), want);
    EQ(mmu_space_destroy(s), want);
    EQ(mmu_space_exec(s), want);
    EQ(mmu_space_mmap(s, 0, 4096, 3, 0, NULL, 0, &out), want);
    EQ(mmu_space_munmap(s, 0x10000, 4096), want);
    EQ(mmu_space_mprotect(s, 0x10000, 4096, 1), want);
    EQ(mmu_space_mmap_object(s, 0, 4096, 3, 0, &zero_obj, 0, &out), want);
    EQ(mmu_space_msync(s, 0x10000, 4096), want);
    EQ(mmu_space_mremap(s, 0x10000, 4096, 8192, 0, 0, &out), want);
    EQ(mmu_space_madvise(s, 0x10000, 4096, MMU_MADV_DONTNEED), want);
    EQ(mmu_space_set_brk_base(s, 0x10000), want);
    EQ(mmu_space_set_start_stack(s, 0x10000), want);
    EQ(mmu_space_brk(s, 0, &out), want);
    EQ(mmu_space_fault(s, 0x10000, MMU_PFEC_U, &info), want);
    EQ(mmu_space_access(s, &zero_cpu, 0x10000, MMU_READ, &r, &info), want);
    EQ(mmu_space_write(s, &zero_cpu, 0x10000, &byte, 1, &info), want);
    EQ(mmu_space_read(s, &zero_cpu, 0x10000, &byte, 1, &info), want);
    EQ(mmu_space_activate(s, &zero_cpu), want);
    cr_assert_null(mmu_space_regions(s, &n));
    cr_assert_null(mmu_space_rusage(s));
    EQ(n, 0);
    EQ(mmu_space_maps(s, buf, sizeof buf), 0);
    EQ(buf[0], 0);
  }
  mmu_object *bad_obj[] = {NULL, &zero_obj, &junk_obj};
  for (int i = 0; i < 3; i++) {
    int want = i ? MMU_ERR_UNINIT : MMU_ERR_ARG;
    EQ(mmu_object_sync(bad_obj[i]), want);
    EQ(mmu_object_destroy(bad_obj[i]), want);
    EQ(mmu_object_mappings(bad_obj[i]), 0);
  }
}

Test(misuse, space_arguments) {
  osw w;
  mmu_space s, child;
  ost_world(&w, &s, 64, 0, 0);
  static uint64_t st[1024];
  uint64_t addr;
  cr_assert_leq(mmu_space_storage_size(NULL), sizeof st);
  mmu_result r;
  mmu_fault_info info;
  EQ(mmu_space_access(&s, NULL, 0x10000, MMU_READ, &r, &info), MMU_ERR_ARG);
  EQ(mmu_space_access(&s, &zero_cpu, 0x10000, MMU_READ, &r, &info),
     MMU_ERR_UNINIT);
  EQ(mmu_space_access(&s, &w.cpu, 0x10000, 7, &r, &info), MMU_ERR_ARG);
  EQ(mmu_space_write(&s, &w.cpu, 0x10000, NULL, 1, &info), MMU_ERR_ARG);
  EQ(mmu_space_read(&s, &w.cpu, 0x10000, NULL, 1, &info), MMU_ERR_ARG);
  EQ(mmu_space_activate(&s, NULL), MMU_ERR_ARG);
  EQ(mmu_space_activate(&s, &junk_cpu), MMU_ERR_UNINIT);
  EQ(mmu_space_fork(&s, NULL, st, sizeof st), MMU_ERR_ARG);
  EQ(mmu_space_fork(&s, &s, st, sizeof st), MMU_ERR_ARG);
  EQ(mmu_space_fork(&s, &child, NULL, 0), MMU_ERR_STORAGE);
  EQ(mmu_space_mmap(&s, 0, 4096, 8, 0, NULL, 0, &addr), MMU_ERR_ARG);
  EQ(mmu_space_mmap_object(&s, 0, 4096, 3, 0, NULL, 0, &addr), MMU_ERR_ARG);
  EQ(mmu_space_mmap_object(&s, 0, 4096, 3, 0, &junk_obj, 0, &addr),
     MMU_ERR_UNINIT);
  EQ(mmu_system_usage(&w.sys, NULL), MMU_ERR_ARG);
  cr_assert(mmu_space_rusage(&s) == &s.ru);
  cr_assert(mmu_system_vmstat(&w.sys) == &w.sys.vm);
  /* a destroyed space is uninitialised again */
  OK(mmu_space_init(&child, &w.sys, NULL, st, sizeof st));
  OK(mmu_space_destroy(&child));
  EQ(mmu_space_munmap(&child, 0x10000, 4096), MMU_ERR_UNINIT);
  EQ(mmu_space_destroy(&child), MMU_ERR_UNINIT);
  ost_world_free(&w, &s);
}

/* mmu_space_activate needs the paging mode the space was built for. */
Test(misuse, activate_needs_long_mode) {
  osw w;
  mmu_space s;
  ost_world(&w, &s, 64, 0, 0);
  mmu_cpu cpu;
  void *tlb;
  cr_assert_eq(osw_cpu(&w, &cpu, &tlb), 0);
  mmu_regs r = cpu.regs;
  r.cr0 = MMU_CR0_PE;
  r.efer = MMU_EFER_LME;
  OK(mmu_load_regs(&cpu, &r)); /* paging off */
  EQ(mmu_space_activate(&s, &cpu), MMU_ERR_STATE);
  cr_assert_str_eq(mmu_status_name(MMU_ERR_STATE),
                   "cpu state does not allow the call");
  free(tlb);
  ost_world_free(&w, &s);
}

/* With no swap device, a fault that needs a frame when every frame holds an
 * anonymous page says there is no swap (the header's promise). */
Test(misuse, full_pool_without_swap_is_noswap) {
  osw w;
  mmu_space s;
  ost_world(&w, &s, 24, 0, 0);
  uint64_t a;
  OK(mmu_space_mmap(&s, 0, 64 * PAGE, RW, 0, NULL, 0, &a));
  int rc = MMU_OK;
  uint64_t i = 0;
  mmu_fault_info info;
  for (; i < 64 && rc == MMU_OK; i++) {
    uint8_t b = 1;
    rc = mmu_space_write(&s, &w.cpu, a + i * PAGE, &b, 1, &info);
  }
  cr_assert(i < 64, "the pool of 24 frames held 64 pages");
  EQ(rc, MMU_ERR_NOSWAP);
  ost_world_free(&w, &s);
}

Test(misuse, every_status_has_a_name) {
  for (int st = MMU_STATUS_MIN; st <= MMU_STATUS_MAX; st++)
    cr_assert_str_neq(mmu_status_name(st), "unknown status", "status %d", st);
  cr_assert_str_eq(mmu_status_name(MMU_STATUS_MIN - 1), "unknown status");
  cr_assert_str_eq(mmu_status_name(MMU_STATUS_MAX + 1), "unknown status");
  /* names are distinct */
  for (int a = MMU_STATUS_MIN; a <= MMU_STATUS_MAX; a++)
    for (int b = a + 1; b <= MMU_STATUS_MAX; b++)
      cr_assert_str_neq(mmu_status_name(a), mmu_status_name(b));
}

Test(misuse, report_functions_take_null) {
  char buf[16] = "x";
  EQ(mmu_format_time_v(NULL, buf, sizeof buf), 0);
  EQ(buf[0], 0);
  EQ(mmu_format_perf_stat(NULL, buf, sizeof buf), 0);
  EQ(mmu_format_vmstat(NULL, buf, sizeof buf), 0);
  mmu_rusage ru;
  memset(&ru, 0, sizeof ru);
  cr_assert_gt(mmu_format_time_v(&ru, NULL, 0), 0);
}

/* The hot path trusts its caller; a debug build says so loudly. */
Test(misuse, hot_path_asserts_out, .signal = SIGABRT) {
  osw w;
  mmu_space s;
  ost_world(&w, &s, 64, 0, 0);
  (void)mmu_translate(&w.cpu, 0x1000, MMU_READ, NULL);
}

Test(misuse, hot_path_asserts_access, .signal = SIGABRT) {
  osw w;
  mmu_space s;
  ost_world(&w, &s, 64, 0, 0);
  mmu_result r;
  (void)mmu_translate(&w.cpu, 0x1000, 99, &r);
}

Test(misuse, hot_path_asserts_init, .signal = SIGABRT) {
  (void)mmu_translate_host(&zero_cpu, 0x1000, MMU_READ);
}
