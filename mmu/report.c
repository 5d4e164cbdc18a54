/* SPDX-License-Identifier: MIT */
/* report.c - counters printed the way the tools that report them print
 * them, so scripts written for the real tools can read ours. No stdio: the
 * numbers are formatted here.
 *
 * mmu_format_time_v: GNU time 1.9 (Debian 12 package time 1.9-0.2), the
 * three memory lines of `/usr/bin/time -v`, in its order: "\tMaximum
 * resident set size (kbytes): N", "\tMajor (requiring I/O) page faults: N",
 * "\tMinor (reclaiming a frame) page faults: N", each ending in "\n". Linux
 * reports ru_maxrss in KiB, so N is maxrss_pages * 4 (printed exactly, even
 * past 2^64). time prints the fault counts with %ld; ours are unsigned, so
 * a count past LONG_MAX, which no process reaches, does not wrap negative.
 *
 * mmu_format_perf_stat: perf 6.1.192 (Debian 12 linux-perf), the counter
 * lines of `perf stat -e dTLB-loads,dTLB-load-misses,dTLB-stores,
 * dTLB-store-misses` without the header and the timing lines, laid out as
 * util/stat-display.c and util/stat-shadow.c of that version do it: the
 * count converted to double and printed "%'18.0f", a space, the event's
 * empty unit padded to 4 and a space, the name padded to 32, then the
 * metric column. dTLB-load-misses gets " # " "%7.2f%%" " of all dTLB cache
 * accesses" with ratio = misses / loads * 100.0, 0.00 when loads is 0 (perf
 * divides only when the dTLB-loads total is nonzero). Every other line
 * gets the 35 blanks of an empty metric: perf has no ratio for stores.
 * The trailing blanks are perf's. perf asks for digit grouping (the '
 * flag), which depends on the locale: under C, POSIX and C.UTF-8 there is
 * no thousands separator and that is what we print; under en_US.UTF-8
 * perf would print 1,234,567. The hardware counters cannot be read in the
 * VM this was checked on: perf printed "<not supported>" in the same
 * columns, and software events showed the same widths with values.
 *
 * mmu_format_vmstat: /proc/vmstat (checked on Linux 6.18; the names are
 * older), "name value\n" with the value in unsigned decimal. Linux's names
 * first, in /proc/vmstat's order: pswpin, pswpout, pgfault, pgmajfault,
 * pgsteal_direct, pgscan_direct. Our reclaim runs in the caller's context
 * (there is no kswapd), which Linux counts as direct reclaim. Then the
 * library's own counters, prefixed "mmu_", which no Linux counter is:
 * mmu_cow_copies, mmu_cow_reuses, mmu_zero_maps. */
#include "internal.h"

/* snprintf's contract: count every byte, store what fits before the NUL.
 * A NULL buf counts as cap 0; a NULL counter struct prints nothing. */
typedef struct mmu__sink {
  char *buf;
  size_t cap, len;
} mmu__sink;

static mmu__sink mmu__sink_at(char *buf, size_t cap) {
  mmu__sink s = {buf, buf ? cap : 0, 0};
  return s;
}

static void mmu__put(mmu__sink *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++, s->len++)
    if (s->len + 1 < s->cap)
      s->buf[s->len] = p[i];
}

static void mmu__puts(mmu__sink *s, const char *str) {
  mmu__put(s, str, strlen(str));
}

static void mmu__blanks(mmu__sink *s, size_t n) {
  while (n--)
    mmu__put(s, " ", 1);
}

static size_t mmu__sink_end(mmu__sink *s) {
  if (s->cap)
    s->buf[s->len < s->cap ? s->len : s->cap - 1] = '\0';
  return s->len;
}

/* Digits are written backwards, ending at end; the first is returned. */
static char *mmu__utoa(uint64_t v, char *end) {
  do {
    *--end = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return end;
}

/* hi:lo as one 128-bit number, divided by 10 in 32-bit limbs. */
static char *mmu__u128toa(uint64_t hi, uint64_t lo, char *end) {
  while (hi) {
    uint32_t limb[4] = {(uint32_t)(hi >> 32), (uint32_t)hi,
                        (uint32_t)(lo >> 32), (uint32_t)lo};
    uint64_t rem = 0;
    for (int i = 0; i < 4; i++) {
      uint64_t cur = rem << 32 | limb[i];
      limb[i] = (uint32_t)(cur / 10);
      rem = cur % 10;
    }
    *--end = (char)('0' + rem);
    hi = (uint64_t)limb[0] << 32 | limb[1];
    lo = (uint64_t)limb[2] << 32 | limb[3];
  }
  return mmu__utoa(lo, end);
}

/* printf("%.*f", frac, v) for finite v >= 0 below 2^128 and frac <= 2:
 * the exact binary value, rounded half to even as glibc rounds. Reads
 * the IEEE-754 binary64 encoding. */
static char *mmu__ftoa(double v, unsigned frac, char *end) {
  uint64_t bits, scale = frac == 2 ? 100 : frac == 1 ? 10 : 1;
  memcpy(&bits, &v, sizeof bits);
  uint64_t m = bits & ((1ull << 52) - 1);
  int e = (int)(bits >> 52 & 0x7FF);
  if (e) {
    m |= 1ull << 52;
    e -= 1075; /* v = m * 2^e */
  } else {
    e = -1074;
  }
  MMU_ASSERT(!(bits >> 63) && e <= 75);
  if (e >= 0) { /* an integer: no rounding */
    for (unsigned i = 0; i < frac; i++)
      *--end = '0';
    if (frac)
      *--end = '.';
    if (e >= 64)
      return mmu__u128toa(m << (e - 64), 0, end);
    return mmu__u128toa(e ? m >> (64 - e) : 0, m << e, end);
  }
  unsigned shift = (unsigned)-e;
  uint64_t x = m * scale, q = 0; /* x < 2^60 */
  if (shift <= 60) {             /* past that, x is below one half */
    uint64_t r = x & ((1ull << shift) - 1), half = 1ull << (shift - 1);
    q = x >> shift;
    if (r > half || (r == half && (q & 1)))
      q++;
  }
  for (unsigned i = 0; i < frac; i++, q /= 10)
    *--end = (char)('0' + q % 10);
  if (frac)
    *--end = '.';
  return mmu__utoa(q, end);
}

static void mmu__put_digits(mmu__sink *s, const char *first, const char *end,
                            size_t width) {
  size_t n = (size_t)(end - first);
  if (n < width)
    mmu__blanks(s, width - n);
  mmu__put(s, first, n);
}

/* indent, label, separator, then hi:lo in decimal and a newline. */
static void mmu__value_line(mmu__sink *s, const char *indent,
                            const char *label, const char *sep, uint64_t hi,
                            uint64_t lo) {
  char d[48];
  mmu__puts(s, indent);
  mmu__puts(s, label);
  mmu__puts(s, sep);
  mmu__put_digits(s, mmu__u128toa(hi, lo, d + sizeof d), d + sizeof d, 0);
  mmu__puts(s, "\n");
}

MMU_API size_t mmu_format_time_v(const mmu_rusage *ru, char *buf,
                                 size_t cap) {
  mmu__sink s = mmu__sink_at(buf, cap);
  if (ru) {
    mmu__value_line(&s, "\t", "Maximum resident set size (kbytes)", ": ",
                    ru->maxrss_pages >> 62, ru->maxrss_pages << 2);
    mmu__value_line(&s, "\t", "Major (requiring I/O) page faults", ": ", 0,
                    ru->majflt);
    mmu__value_line(&s, "\t", "Minor (reclaiming a frame) page faults",
                    ": ", 0, ru->minflt);
  }
  return mmu__sink_end(&s);
}

/* One counter line; ratio < 0 leaves the metric column empty, else it is
 * perf's miss ratio "of all <cache> cache accesses". */
static void mmu__perf_line(mmu__sink *s, uint64_t count, const char *event,
                           double ratio, const char *cache) {
  char d[48];
  char *end = d + sizeof d;
  mmu__put_digits(s, mmu__ftoa((double)count, 0, end), end, 18);
  mmu__blanks(s, 1 + 4 + 1); /* separator, unit "" padded to 4, separator */
  mmu__puts(s, event);
  mmu__blanks(s, strlen(event) < 32 ? 32 - strlen(event) : 0);
  if (ratio < 0) {
    mmu__blanks(s, 35); /* METRIC_LEN */
  } else {
    mmu__puts(s, " # ");
    mmu__put_digits(s, mmu__ftoa(ratio, 2, end), end, 7);
    /* the unit is padded to 35 - 11 - 1 columns, fewer than it has */
    mmu__puts(s, "% of all ");
    mmu__puts(s, cache);
    mmu__puts(s, " cache accesses");
  }
  mmu__puts(s, "\n");
}

/* A TLB's loads and misses, with perf's ratio (its arithmetic, in double). */
static void mmu__perf_tlb(mmu__sink *s, uint64_t loads, uint64_t misses,
                          const char *load_event, const char *miss_event,
                          int with_ratio, const char *cache) {
  double ratio = 0.0;
  if (loads != 0)
    ratio = (double)misses / (double)loads * 100.0;
  mmu__perf_line(s, loads, load_event, -1.0, cache);
  mmu__perf_line(s, misses, miss_event, with_ratio ? ratio : -1.0, cache);
}

MMU_API size_t mmu_format_perf_stat(const mmu_stats *st, char *buf,
                                    size_t cap) {
  mmu__sink s = mmu__sink_at(buf, cap);
  if (st) {
    /* perf's hardware cache events; it has a ratio for loads only */
    mmu__perf_tlb(&s, st->tlb_loads[0], st->tlb_misses[0], "dTLB-loads",
                  "dTLB-load-misses", 1, "dTLB");
    mmu__perf_tlb(&s, st->tlb_loads[1], st->tlb_misses[1], "dTLB-stores",
                  "dTLB-store-misses", 0, "dTLB");
    mmu__perf_tlb(&s, st->tlb_loads[2], st->tlb_misses[2], "iTLB-loads",
                  "iTLB-load-misses", 1, "iTLB");
    /* the MMU's own events, in the same columns */
    static const struct {
      size_t offset;
      const char *event;
    } own[] = {
        {offsetof(mmu_stats, walks), "page-walks"},
        {offsetof(mmu_stats, walk_retries), "page-walk-retries"},
        {offsetof(mmu_stats, faults_not_present), "page-faults-not-present"},
        {offsetof(mmu_stats, faults_protection), "page-faults-protection"},
        {offsetof(mmu_stats, faults_reserved), "page-faults-reserved-bit"},
        {offsetof(mmu_stats, faults_pkey), "page-faults-protection-key"},
        {offsetof(mmu_stats, faults_gp), "gp-faults-non-canonical"},
        {offsetof(mmu_stats, bus_errors), "page-walk-bus-errors"},
        {offsetof(mmu_stats, flushes_full), "tlb-flushes-full"},
        {offsetof(mmu_stats, flushes_pcid), "tlb-flushes-nonglobal"},
        {offsetof(mmu_stats, invlpg), "invlpg"},
        {offsetof(mmu_stats, invpcid), "invpcid"},
    };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
      uint64_t v;
      if (own[i].offset == offsetof(mmu_stats, faults_not_present))
        mmu__perf_line(&s,
                       st->faults_not_present + st->faults_protection +
                           st->faults_reserved + st->faults_pkey,
                       "page-faults", -1.0, ""); /* the #PFs, then by kind */
      memcpy(&v, (const char *)st + own[i].offset, sizeof v);
      mmu__perf_line(&s, v, own[i].event, -1.0, "");
    }
  }
  return mmu__sink_end(&s);
}

MMU_API size_t mmu_format_vmstat(const mmu_vmstat *vm, char *buf,
                                 size_t cap) {
  mmu__sink s = mmu__sink_at(buf, cap);
  if (vm) {
    mmu__value_line(&s, "", "pswpin", " ", 0, vm->pswpin);
    mmu__value_line(&s, "", "pswpout", " ", 0, vm->pswpout);
    mmu__value_line(&s, "", "pglazyfree", " ", 0, vm->pglazyfree);
    mmu__value_line(&s, "", "pgfault", " ", 0, vm->pgfault);
    mmu__value_line(&s, "", "pgmajfault", " ", 0, vm->pgmajfault);
    mmu__value_line(&s, "", "pglazyfreed", " ", 0, vm->pglazyfreed);
    mmu__value_line(&s, "", "pgsteal_direct", " ", 0, vm->pgsteal);
    mmu__value_line(&s, "", "pgscan_direct", " ", 0, vm->pgscan);
    mmu__value_line(&s, "", "mmu_cow_copies", " ", 0, vm->cow_copies);
    mmu__value_line(&s, "", "mmu_cow_reuses", " ", 0, vm->cow_reuses);
    mmu__value_line(&s, "", "mmu_zero_maps", " ", 0, vm->zero_maps);
  }
  return mmu__sink_end(&s);
}
