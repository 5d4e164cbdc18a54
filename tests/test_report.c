/* SPDX-License-Identifier: MIT */
/* The report formatters: exact text, perf's printf calls replayed through
 * glibc as an oracle, snprintf-style truncation, and the labels and names
 * checked against /usr/bin/time and /proc/vmstat when the host has them. */
#include <stdio.h>
#include <unistd.h>

#include "pt.h"

/* --- /usr/bin/time -v ---------------------------------------------------- */

static const char *time_v(uint64_t minflt, uint64_t majflt, uint64_t maxrss) {
  static char buf[512];
  mmu_rusage ru;
  memset(&ru, 0, sizeof ru);
  ru.minflt = minflt;
  ru.majflt = majflt;
  ru.maxrss_pages = maxrss;
  ru.rss_pages = 77; /* not printed */
  ru.swap_pages = 88;
  size_t n = mmu_format_time_v(&ru, buf, sizeof buf);
  EQ(n, strlen(buf));
  return buf;
}

Test(report, time_v_exact) {
  cr_assert_str_eq(time_v(0, 0, 0),
                   "\tMaximum resident set size (kbytes): 0\n"
                   "\tMajor (requiring I/O) page faults: 0\n"
                   "\tMinor (reclaiming a frame) page faults: 0\n");
  cr_assert_str_eq(time_v(1, 999, 1000),
                   "\tMaximum resident set size (kbytes): 4000\n"
                   "\tMajor (requiring I/O) page faults: 999\n"
                   "\tMinor (reclaiming a frame) page faults: 1\n");
  cr_assert_str_eq(time_v(1234567, 1000, 1234567),
                   "\tMaximum resident set size (kbytes): 4938268\n"
                   "\tMajor (requiring I/O) page faults: 1000\n"
                   "\tMinor (reclaiming a frame) page faults: 1234567\n");
  /* kbytes is pages * 4, exact past 2^64 */
  cr_assert_str_eq(time_v(UINT64_MAX, UINT64_MAX, UINT64_MAX),
                   "\tMaximum resident set size (kbytes): 73786976294838206460\n"
                   "\tMajor (requiring I/O) page faults: 18446744073709551615\n"
                   "\tMinor (reclaiming a frame) page faults: "
                   "18446744073709551615\n");
  cr_assert_str_eq(time_v(0, 0, 1ull << 62),
                   "\tMaximum resident set size (kbytes): 18446744073709551616\n"
                   "\tMajor (requiring I/O) page faults: 0\n"
                   "\tMinor (reclaiming a frame) page faults: 0\n");
}

/* --- perf stat ------------------------------------------------------------- */

static const char *perf(uint64_t loads, uint64_t misses, uint64_t stores,
                        uint64_t store_misses) {
  static char buf[4096];
  mmu_stats st;
  memset(&st, 0, sizeof st);
  st.tlb_loads[0] = loads;
  st.tlb_misses[0] = misses;
  st.tlb_loads[1] = stores;
  st.tlb_misses[1] = store_misses;
  st.tlb_loads[2] = 5;
  st.walks = 6;
  size_t n = mmu_format_perf_stat(&st, buf, sizeof buf);
  EQ(n, strlen(buf));
  /* the dTLB lines come first; the rest is perf_stat_every_counter's */
  char *p = buf;
  for (int line = 0; line < 4; line++)
    p = strchr(p, '\n') + 1;
  *p = '\0';
  return buf;
}

Test(report, perf_stat_exact) {
  cr_assert_str_eq(perf(0, 0, 0, 0),
    "                 0      dTLB-loads                                                         \n"
    "                 0      dTLB-load-misses                 #    0.00% of all dTLB cache accesses\n"
    "                 0      dTLB-stores                                                        \n"
    "                 0      dTLB-store-misses                                                  \n");
  cr_assert_str_eq(perf(1234567, 1000, 999, 1),
    "           1234567      dTLB-loads                                                         \n"
    "              1000      dTLB-load-misses                 #    0.08% of all dTLB cache accesses\n"
    "               999      dTLB-stores                                                        \n"
    "                 1      dTLB-store-misses                                                  \n");
  cr_assert_str_eq(perf(3, 1, 1000, 999),
    "                 3      dTLB-loads                                                         \n"
    "                 1      dTLB-load-misses                 #   33.33% of all dTLB cache accesses\n"
    "              1000      dTLB-stores                                                        \n"
    "               999      dTLB-store-misses                                                  \n");
  /* perf prints the count converted to double: 2^64 - 1 becomes 2^64 */
  cr_assert_str_eq(perf(UINT64_MAX, UINT64_MAX, UINT64_MAX, 0),
    "18446744073709551616      dTLB-loads                                                         \n"
    "18446744073709551616      dTLB-load-misses                 #  100.00% of all dTLB cache accesses\n"
    "18446744073709551616      dTLB-stores                                                        \n"
    "                 0      dTLB-store-misses                                                  \n");
}

/* Every counter of mmu_stats is printed, each under its own name. */
Test(report, perf_stat_every_counter) {
  mmu_stats st;
  uint64_t *v = (uint64_t *)(void *)&st;
  for (size_t i = 0; i < sizeof st / sizeof *v; i++)
    v[i] = 100 + i; /* tlb_loads[3], tlb_misses[3]: unused slots */
  static char buf[4096];
  EQ(mmu_format_perf_stat(&st, buf, sizeof buf), strlen(buf));
  cr_assert_str_eq(buf,
    "               100      dTLB-loads                                                         \n"
    "               104      dTLB-load-misses                 #  104.00% of all dTLB cache accesses\n"
    "               101      dTLB-stores                                                        \n"
    "               105      dTLB-store-misses                                                  \n"
    "               102      iTLB-loads                                                         \n"
    "               106      iTLB-load-misses                 #  103.92% of all iTLB cache accesses\n"
    "               108      page-walks                                                         \n"
    "               109      page-walk-retries                                                  \n"
    "               446      page-faults                                                        \n"
    "               110      page-faults-not-present                                            \n"
    "               111      page-faults-protection                                             \n"
    "               112      page-faults-reserved-bit                                           \n"
    "               113      page-faults-protection-key                                         \n"
    "               114      gp-faults-non-canonical                                            \n"
    "               115      page-walk-bus-errors                                               \n"
    "               116      tlb-flushes-full                                                   \n"
    "               117      tlb-flushes-nonglobal                                              \n"
    "               118      invlpg                                                             \n"
    "               119      invpcid                                                            \n");
  /* a counter added to mmu_stats must be added here (and to the report) */
  EQ(sizeof st, 20 * sizeof(uint64_t));
}

/* perf's own calls (util/stat-display.c, stat-shadow.c of perf 6.1) in the
 * C locale, as glibc prints them. */
static void perf_oracle_line(char *out, size_t cap, uint64_t count,
                             const char *name, int with_ratio, double ratio,
                             const char *cache) {
  int n = snprintf(out, cap, "%'18.0f%s%-*s%s%-*s", (double)count, " ", 4,
                   "", " ", 32, name);
  if (with_ratio) {
    char pct[64], unit[64];
    int m = 3 + snprintf(pct, sizeof pct, "%7.2f%%", ratio);
    snprintf(unit, sizeof unit, "of all %s cache accesses", cache);
    n += snprintf(out + n, cap - (size_t)n, " # %s %-*s\n", pct,
                  35 - m - 1, unit);
  } else {
    n += snprintf(out + n, cap - (size_t)n, "%-*s\n", 35, "");
  }
}

static double perf_ratio(uint64_t loads, uint64_t misses) {
  double total = (double)loads;
  return total ? (double)misses / total * 100.0 : 0.0;
}

/* The TLB lines of the report against the oracle (dTLB and iTLB). */
static void check_against_oracle(uint64_t loads, uint64_t misses) {
  char want[2048], line[256];
  want[0] = '\0';
  perf_oracle_line(line, sizeof line, loads, "dTLB-loads", 0, 0, "");
  strcat(want, line);
  perf_oracle_line(line, sizeof line, misses, "dTLB-load-misses", 1,
                   perf_ratio(loads, misses), "dTLB");
  strcat(want, line);
  perf_oracle_line(line, sizeof line, misses ^ 1, "dTLB-stores", 0, 0, "");
  strcat(want, line);
  perf_oracle_line(line, sizeof line, loads >> 1, "dTLB-store-misses", 0, 0,
                   "");
  strcat(want, line);
  perf_oracle_line(line, sizeof line, misses, "iTLB-loads", 0, 0, "");
  strcat(want, line);
  perf_oracle_line(line, sizeof line, loads, "iTLB-load-misses", 1,
                   perf_ratio(misses, loads), "iTLB");
  strcat(want, line);
  mmu_stats st;
  memset(&st, 0, sizeof st);
  st.tlb_loads[0] = loads;
  st.tlb_misses[0] = misses;
  st.tlb_loads[1] = misses ^ 1;
  st.tlb_misses[1] = loads >> 1;
  st.tlb_loads[2] = misses;
  st.tlb_misses[2] = loads;
  static char got[4096];
  mmu_format_perf_stat(&st, got, sizeof got);
  cr_assert(strncmp(got, want, strlen(want)) == 0,
            "loads %llu misses %llu:\n%s\nwant:\n%s",
            (unsigned long long)loads, (unsigned long long)misses, got, want);
}

/* Small totals give exact halves at the third decimal (k/8 percent), where
 * glibc rounds the exact binary value half to even. */
Test(report, perf_stat_matches_printf_small) {
  for (uint64_t loads = 0; loads <= 160; loads++)
    for (uint64_t misses = 0; misses <= loads + 2; misses++)
      check_against_oracle(loads, misses);
  const uint64_t totals[] = {800, 1600, 8000, 80000, 400, 200};
  for (unsigned t = 0; t < sizeof totals / sizeof totals[0]; t++)
    for (uint64_t misses = 0; misses <= totals[t]; misses++)
      check_against_oracle(totals[t], misses);
}

Test(report, perf_stat_matches_printf_wide) {
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    unsigned a = (unsigned)(x % 65), b = (unsigned)((x >> 8) % 65);
    uint64_t loads = a == 64 ? UINT64_MAX : x >> (63 - a);
    uint64_t misses = b == 64 ? UINT64_MAX : (x * 31) >> (63 - b);
    check_against_oracle(loads, misses);
  }
  /* more misses than loads: widths past perf's columns */
  check_against_oracle(1, UINT64_MAX);
  check_against_oracle(3, UINT64_MAX);
  check_against_oracle(1ull << 53, (1ull << 53) + 1);
  check_against_oracle(999, 1000);
}

/* --- /proc/vmstat -------------------------------------------------------- */

static const char *vmstat(const mmu_vmstat *vm) {
  static char buf[1024];
  size_t n = mmu_format_vmstat(vm, buf, sizeof buf);
  EQ(n, strlen(buf));
  return buf;
}

Test(report, vmstat_exact) {
  mmu_vmstat vm;
  memset(&vm, 0, sizeof vm);
  cr_assert_str_eq(vmstat(&vm), "pswpin 0\n"
                                "pswpout 0\n"
                                "pglazyfree 0\n"
                                "pgfault 0\n"
                                "pgmajfault 0\n"
                                "pglazyfreed 0\n"
                                "pgsteal_direct 0\n"
                                "pgscan_direct 0\n"
                                "mmu_cow_copies 0\n"
                                "mmu_cow_reuses 0\n"
                                "mmu_zero_maps 0\n");
  vm.pgfault = 1234567;
  vm.pgmajfault = 999;
  vm.pswpin = 1;
  vm.pswpout = 1000;
  vm.pgsteal = 10;
  vm.pgscan = UINT64_MAX;
  vm.cow_copies = 7;
  vm.cow_reuses = 8;
  vm.zero_maps = 9;
  vm.pglazyfree = 11;
  vm.pglazyfreed = 12;
  cr_assert_str_eq(vmstat(&vm), "pswpin 1\n"
                                "pswpout 1000\n"
                                "pglazyfree 11\n"
                                "pgfault 1234567\n"
                                "pgmajfault 999\n"
                                "pglazyfreed 12\n"
                                "pgsteal_direct 10\n"
                                "pgscan_direct 18446744073709551615\n"
                                "mmu_cow_copies 7\n"
                                "mmu_cow_reuses 8\n"
                                "mmu_zero_maps 9\n");
}

/* --- snprintf contract --------------------------------------------------- */

typedef size_t (*formatter)(const void *arg, char *buf, size_t cap);

static size_t fmt_time(const void *a, char *b, size_t c) {
  return mmu_format_time_v((const mmu_rusage *)a, b, c);
}
static size_t fmt_perf(const void *a, char *b, size_t c) {
  return mmu_format_perf_stat((const mmu_stats *)a, b, c);
}
static size_t fmt_vm(const void *a, char *b, size_t c) {
  return mmu_format_vmstat((const mmu_vmstat *)a, b, c);
}

/* Every cap from 0 to past the end: the full length comes back, the
 * prefix that fits is NUL-terminated, nothing at or past cap is written. */
static void check_truncation(formatter f, const void *arg) {
  static char full[4096], buf[4096];
  size_t len = f(arg, full, sizeof full);
  cr_assert(len > 0 && len < sizeof full);
  EQ(strlen(full), len);
  EQ(f(arg, NULL, 0), len);
  for (size_t cap = 0; cap <= len + 2; cap++) {
    memset(buf, 0x7F, sizeof buf);
    EQ(f(arg, buf, cap), len);
    if (cap > 0) {
      size_t kept = cap - 1 < len ? cap - 1 : len;
      cr_assert(memcmp(buf, full, kept) == 0, "cap %zu", cap);
      EQ(buf[kept], '\0');
    }
    for (size_t i = cap; i < sizeof buf; i++)
      cr_assert(buf[i] == 0x7F, "cap %zu: byte %zu written", cap, i);
  }
}

Test(report, truncation_and_null_buffer) {
  mmu_rusage ru = {12345, 678, 9999, 1, 2};
  mmu_stats st;
  memset(&st, 0, sizeof st);
  st.tlb_loads[0] = 1000000;
  st.tlb_misses[0] = 4321;
  st.tlb_loads[1] = 55;
  mmu_vmstat vm = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  check_truncation(fmt_time, &ru);
  check_truncation(fmt_perf, &st);
  check_truncation(fmt_vm, &vm);
}

/* No counters, no text; a NULL buffer is read as cap 0 whatever cap says. */
Test(report, null_arguments) {
  char buf[8] = "xxxxxxx";
  EQ(mmu_format_time_v(NULL, buf, sizeof buf), 0);
  EQ(buf[0], '\0');
  EQ(mmu_format_perf_stat(NULL, NULL, 0), 0);
  EQ(mmu_format_vmstat(NULL, NULL, 0), 0);
  mmu_vmstat vm;
  memset(&vm, 0, sizeof vm);
  EQ(mmu_format_vmstat(&vm, NULL, 100), strlen(vmstat(&vm)));
}

/* --- against the real tools ---------------------------------------------- */

static size_t read_all(FILE *f, char *buf, size_t cap) {
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  return n;
}

/* Offset of the line of text that begins with prefix, or -1. */
static long line_with_prefix(const char *text, const char *prefix, size_t n) {
  for (const char *l = text; *l;) {
    if (strncmp(l, prefix, n) == 0)
      return l - text;
    const char *nl = strchr(l, '\n');
    if (!nl)
      break;
    l = nl + 1;
  }
  return -1;
}

Test(report, time_v_labels_as_gnu_time_prints_them) {
  if (access("/usr/bin/time", X_OK) != 0)
    cr_skip_test("/usr/bin/time is not installed");
  static char real[8192];
  FILE *p = popen("LC_ALL=C /usr/bin/time -v true 2>&1", "r");
  cr_assert(p != NULL);
  read_all(p, real, sizeof real);
  pclose(p);
  const char *ours = time_v(5, 6, 7);
  long last = -1;
  for (const char *l = ours; *l; l = strchr(l, '\n') + 1) {
    size_t label = (size_t)(strstr(l, ": ") - l) + 2;
    long at = line_with_prefix(real, l, label);
    cr_assert(at >= 0, "time -v has no line \"%.*s\"", (int)label, l);
    cr_assert(at > last, "\"%.*s\" out of time's order", (int)label, l);
    last = at;
  }
}

Test(report, vmstat_names_as_linux_has_them) {
  FILE *f = fopen("/proc/vmstat", "r");
  if (!f)
    cr_skip_test("no /proc/vmstat");
  static char real[65536];
  read_all(f, real, sizeof real);
  fclose(f);
  mmu_vmstat vm;
  memset(&vm, 0, sizeof vm);
  const char *ours = vmstat(&vm);
  cr_assert(line_with_prefix(real, "mmu_", 4) < 0, "Linux has an mmu_ counter");
  long last = -1;
  for (const char *l = ours; *l; l = strchr(l, '\n') + 1) {
    size_t name = (size_t)(strchr(l, ' ') - l) + 1; /* with the blank */
    if (strncmp(l, "mmu_", 4) == 0)
      continue;
    long at = line_with_prefix(real, l, name);
    cr_assert(at >= 0, "/proc/vmstat has no \"%.*s\"", (int)name - 1, l);
    cr_assert(at > last, "\"%.*s\" out of /proc/vmstat's order",
              (int)name - 1, l);
    last = at;
  }
}
