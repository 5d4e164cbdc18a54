/* SPDX-License-Identifier: MIT */
/* Page replacement policies and the offline trace evaluation.
 *
 * Victim orders are worked out by hand from each policy's definition (the
 * comments walk through them). Trace results are checked against
 * independent computations: an exhaustive search for OPT, Mattson's stack
 * distances for LRU, the textbook array Clock, a linear-scan LFU. */
#include "pt.h"

static _Alignas(8) uint8_t storage[1 << 20];

#define NO_FRAME 0xFFFFFFFFu

/* Referenced bits the callback tests and clears; counts its calls. */
typedef struct bits {
  uint8_t bit[64];
  unsigned calls;
} bits;

static int bits_test_clear(void *user, uint32_t frame) {
  bits *b = user;
  b->calls++;
  int was = b->bit[frame];
  b->bit[frame] = 0;
  return was;
}

static int always_referenced(void *user, uint32_t frame) {
  (void)frame;
  ((bits *)user)->calls++;
  return 1;
}

static void init(mmu_policy *p, unsigned kind, uint32_t frames) {
  size_t need = mmu_policy_storage_size(kind, frames);
  cr_assert(need > 0 && need <= sizeof storage);
  ST(mmu_policy_init(p, kind, frames, storage, need), MMU_OK);
}

/* The victims, in order, until the policy is empty. */
static void expect_victims(mmu_policy *p, mmu_referenced_fn fn, void *user,
                           const uint32_t *want, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    uint32_t f = NO_FRAME;
    ST(mmu_policy_victim(p, fn, user, &f), MMU_OK);
    cr_assert(f == want[i], "victim %u: got frame %u, expected %u", i, f,
              want[i]);
  }
  uint32_t f = NO_FRAME;
  ST(mmu_policy_victim(p, fn, user, &f), MMU_ERR_NOMEM);
  EQ(f, NO_FRAME);
}

Test(policy, names) {
  const char *n[5];
  for (unsigned k = 0; k <= MMU_POLICY_TWO_LIST; k++) {
    n[k] = mmu_policy_name(k);
    cr_assert(n[k] != NULL && n[k][0] != '\0');
  }
  cr_assert_str_eq(n[MMU_POLICY_DEFAULT], n[MMU_POLICY_TWO_LIST]);
  for (unsigned a = 1; a <= MMU_POLICY_TWO_LIST; a++)
    for (unsigned b = 1; b < a; b++)
      cr_assert(strcmp(n[a], n[b]) != 0, "kinds %u and %u share a name", a, b);
  cr_assert_str_eq(mmu_policy_name(5), "unknown");
}

Test(policy, lru_order) {
  mmu_policy p;
  init(&p, MMU_POLICY_LRU, 4);
  /* references: 0 1 2 3, then 1, 0; re-inserting resident 2 is no
   * reference; an access to a non-resident frame is ignored */
  for (uint32_t f = 0; f < 4; f++)
    mmu_policy_insert(&p, f);
  mmu_policy_access(&p, 1);
  mmu_policy_access(&p, 0);
  mmu_policy_insert(&p, 2);
  /* least recent first: 2 (3rd), 3 (4th), 1 (5th), 0 (6th) */
  static const uint32_t want[] = {2, 3, 1, 0};
  expect_victims(&p, NULL, NULL, want, 4);
  /* the callback plays no part */
  bits b = {{0}, 0};
  mmu_policy_insert(&p, 3);
  mmu_policy_insert(&p, 1);
  static const uint32_t want2[] = {3, 1};
  expect_victims(&p, always_referenced, &b, want2, 2);
  EQ(b.calls, 0);
}

Test(policy, lfu_order) {
  mmu_policy p;
  init(&p, MMU_POLICY_LFU, 4);
  for (uint32_t f = 0; f < 4; f++)
    mmu_policy_insert(&p, f); /* all count 1 */
  mmu_policy_access(&p, 0);
  mmu_policy_access(&p, 0); /* 0: 3 */
  mmu_policy_access(&p, 2); /* 2: 2 */
  mmu_policy_access(&p, 1); /* 1: 2, referenced after 2 */
  /* 3 (count 1), then 2 and 1 (count 2; 2's last reference is older), 0 */
  static const uint32_t want[] = {3, 2, 1, 0};
  expect_victims(&p, NULL, NULL, want, 4);
}

Test(policy, lfu_count_is_per_residency) {
  mmu_policy p;
  init(&p, MMU_POLICY_LFU, 3);
  mmu_policy_insert(&p, 0);
  mmu_policy_access(&p, 0);
  mmu_policy_access(&p, 0); /* 0: 3 */
  mmu_policy_insert(&p, 1); /* 1: 1 */
  mmu_policy_insert(&p, 2); /* 2: 1 */
  mmu_policy_remove(&p, 0);
  mmu_policy_insert(&p, 0); /* back with count 1, most recent */
  mmu_policy_access(&p, 1); /* 1: 2 */
  /* count 1: 2 (older), 0; then 1 (count 2) */
  static const uint32_t want[] = {2, 0, 1};
  expect_victims(&p, NULL, NULL, want, 3);
}

Test(policy, lfu_ties_all_equal_is_insertion_order) {
  mmu_policy p;
  init(&p, MMU_POLICY_LFU, 5);
  static const uint32_t order[] = {4, 1, 3, 0, 2};
  for (unsigned i = 0; i < 5; i++)
    mmu_policy_insert(&p, order[i]);
  for (unsigned i = 0; i < 5; i++)
    mmu_policy_access(&p, order[i]); /* all 2, same relative order */
  expect_victims(&p, NULL, NULL, order, 5);
}

Test(policy, clock_order) {
  mmu_policy p;
  bits b = {{0}, 0};
  init(&p, MMU_POLICY_CLOCK, 4);
  for (uint32_t f = 0; f < 4; f++)
    mmu_policy_insert(&p, f); /* ring 0 1 2 3, hand at 0 */
  b.bit[0] = 1;
  b.bit[2] = 1;
  mmu_policy_access(&p, 3); /* ignored: Clock reads the bits */
  uint32_t f;
  /* 0 referenced: cleared, passed; 1 not: victim; hand to 2 */
  ST(mmu_policy_victim(&p, bits_test_clear, &b, &f), MMU_OK);
  EQ(f, 1);
  EQ(b.calls, 2);
  /* 1 goes back in behind the hand: ring from the hand 2 3 0 1 */
  mmu_policy_insert(&p, 1);
  /* 2 referenced: passed; 3: victim; then 0, 1, 2 (all bits clear) */
  static const uint32_t want[] = {3, 0, 1, 2};
  expect_victims(&p, bits_test_clear, &b, want, 4);
}

Test(policy, clock_terminates_when_always_referenced) {
  mmu_policy p;
  bits b = {{0}, 0};
  init(&p, MMU_POLICY_CLOCK, 3);
  for (uint32_t f = 0; f < 3; f++)
    mmu_policy_insert(&p, f);
  uint32_t f;
  /* two full turns (6 second chances), then the frame under the hand */
  ST(mmu_policy_victim(&p, always_referenced, &b, &f), MMU_OK);
  EQ(f, 0);
  EQ(b.calls, 6);
  static const uint32_t want[] = {1, 2};
  expect_victims(&p, always_referenced, &b, want, 2);
}

Test(policy, two_list_order) {
  mmu_policy p;
  bits b = {{0}, 0};
  init(&p, MMU_POLICY_TWO_LIST, 4);
  for (uint32_t f = 0; f < 4; f++)
    mmu_policy_insert(&p, f); /* inactive (head..tail) 3 2 1 0 */
  b.bit[0] = 1;
  b.bit[2] = 1;
  uint32_t f;
  /* tail 0 referenced: to the active list; tail 1 not: evicted */
  ST(mmu_policy_victim(&p, bits_test_clear, &b, &f), MMU_OK);
  EQ(f, 1);
  /* inactive 3 2, active 0. Tail 2 referenced: active 2 0, inactive 3;
   * inactive now shorter, so active tail 0 is deactivated (its bit tested
   * and cleared): inactive 0 3; tail 3 unreferenced: evicted */
  ST(mmu_policy_victim(&p, bits_test_clear, &b, &f), MMU_OK);
  EQ(f, 3);
  /* inactive 0, active 2. Both referenced again. Tail 0: activated
   * (active 0 2); the active tail 2 is deactivated though referenced (an
   * anon page gets no second active trip) and its bit cleared, so it is
   * the unreferenced inactive tail: evicted */
  b.bit[0] = 1;
  b.bit[2] = 1;
  ST(mmu_policy_victim(&p, bits_test_clear, &b, &f), MMU_OK);
  EQ(f, 2);
  /* only 0 is left, on the active list: deactivated, then evicted */
  static const uint32_t want[] = {0};
  expect_victims(&p, bits_test_clear, &b, want, 1);
}

Test(policy, two_list_without_callback_is_fifo) {
  mmu_policy p;
  init(&p, MMU_POLICY_TWO_LIST, 4);
  static const uint32_t order[] = {2, 0, 3, 1};
  for (unsigned i = 0; i < 4; i++)
    mmu_policy_insert(&p, order[i]);
  expect_victims(&p, NULL, NULL, order, 4);
}

Test(policy, two_list_terminates_when_always_referenced) {
  for (uint32_t n = 1; n <= 16; n++) {
    mmu_policy p;
    bits b = {{0}, 0};
    init(&p, MMU_POLICY_TWO_LIST, n);
    for (uint32_t f = 0; f < n; f++)
      mmu_policy_insert(&p, f);
    uint8_t seen[16] = {0};
    for (uint32_t i = 0; i < n; i++) {
      uint32_t f = NO_FRAME;
      b.calls = 0;
      ST(mmu_policy_victim(&p, always_referenced, &b, &f), MMU_OK);
      cr_assert(f < n && !seen[f], "frame %u evicted twice", f);
      seen[f] = 1;
      /* at most 2 x resident activations, and as many deactivations
       * plus one per page already active */
      cr_assert(b.calls <= 5 * (n - i), "%u calls", b.calls);
    }
    uint32_t f;
    ST(mmu_policy_victim(&p, always_referenced, &b, &f), MMU_ERR_NOMEM);
  }
}

Test(policy, insert_remove_idempotent) {
  for (unsigned kind = 0; kind <= MMU_POLICY_TWO_LIST; kind++) {
    mmu_policy p;
    bits b = {{0}, 0};
    init(&p, kind, 8);
    mmu_policy_insert(&p, 5);
    mmu_policy_insert(&p, 5);
    mmu_policy_insert(&p, 6);
    mmu_policy_insert(&p, 5);
    mmu_policy_remove(&p, 5);
    mmu_policy_remove(&p, 5);
    mmu_policy_remove(&p, 7); /* never inserted */
    mmu_policy_insert(&p, 8); /* out of range: ignored */
    mmu_policy_access(&p, 5); /* not resident: ignored */
    static const uint32_t want[] = {6};
    expect_victims(&p, bits_test_clear, &b, want, 1);
    /* a victim is removed: removing it again changes nothing */
    mmu_policy_insert(&p, 1);
    mmu_policy_insert(&p, 2);
    uint32_t f;
    ST(mmu_policy_victim(&p, bits_test_clear, &b, &f), MMU_OK);
    EQ(f, 1);
    mmu_policy_remove(&p, 1);
    static const uint32_t want2[] = {2};
    expect_victims(&p, bits_test_clear, &b, want2, 1);
  }
}

/* xorshift64*: the tests' fixed PRNG. */
static uint64_t rnd(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

Test(policy, random_operations_keep_the_resident_set) {
  /* whatever the kind, victims are resident frames, each once */
  for (unsigned kind = 1; kind <= MMU_POLICY_TWO_LIST; kind++) {
    uint64_t s = 0x1234 + kind;
    mmu_policy p;
    bits b = {{0}, 0};
    const uint32_t n = 48;
    uint8_t model[48] = {0};
    unsigned resident = 0;
    init(&p, kind, n);
    for (int step = 0; step < 20000; step++) {
      uint32_t f = (uint32_t)(rnd(&s) % n);
      switch (rnd(&s) % 5) {
      case 0:
      case 1:
        mmu_policy_insert(&p, f);
        resident += !model[f];
        model[f] = 1;
        break;
      case 2:
        mmu_policy_remove(&p, f);
        resident -= model[f];
        model[f] = 0;
        break;
      case 3:
        mmu_policy_access(&p, f);
        b.bit[f] = 1;
        break;
      default: {
        uint32_t v = NO_FRAME;
        int st = mmu_policy_victim(&p, bits_test_clear, &b, &v);
        if (resident == 0) {
          ST(st, MMU_ERR_NOMEM);
        } else {
          ST(st, MMU_OK);
          cr_assert(v < n && model[v], "kind %u: victim %u not resident",
                    kind, v);
          model[v] = 0;
          resident--;
        }
      }
      }
    }
    for (; resident > 0; resident--) {
      uint32_t v;
      ST(mmu_policy_victim(&p, bits_test_clear, &b, &v), MMU_OK);
      cr_assert(model[v]);
      model[v] = 0;
    }
    uint32_t v;
    ST(mmu_policy_victim(&p, NULL, NULL, &v), MMU_ERR_NOMEM);
  }
}

Test(policy, argument_errors) {
  mmu_policy p;
  EQ(mmu_policy_storage_size(5, 4), 0);
  EQ(mmu_policy_storage_size(MMU_POLICY_LRU, 0), 0);
  EQ(mmu_policy_storage_size(MMU_POLICY_LRU, (1u << 31) + 1), 0);
  size_t need = mmu_policy_storage_size(MMU_POLICY_LFU, 16);
  cr_assert(need > 0 && need % 8 == 0);
  ST(mmu_policy_init(NULL, MMU_POLICY_LFU, 16, storage, need), MMU_ERR_ARG);
  ST(mmu_policy_init(&p, 5, 16, storage, need), MMU_ERR_ARG);
  ST(mmu_policy_init(&p, MMU_POLICY_LFU, 0, storage, need), MMU_ERR_ARG);
  ST(mmu_policy_init(&p, MMU_POLICY_LFU, 16, NULL, need), MMU_ERR_STORAGE);
  ST(mmu_policy_init(&p, MMU_POLICY_LFU, 16, storage + 4, need),
     MMU_ERR_STORAGE);
  ST(mmu_policy_init(&p, MMU_POLICY_LFU, 16, storage, need - 1),
     MMU_ERR_STORAGE);
  ST(mmu_policy_init(&p, MMU_POLICY_LFU, 16, storage, need), MMU_OK);
  uint32_t f;
  ST(mmu_policy_victim(&p, NULL, NULL, NULL), MMU_ERR_ARG);
  ST(mmu_policy_victim(NULL, NULL, NULL, &f), MMU_ERR_ARG);
  ST(mmu_policy_victim(&p, NULL, NULL, &f), MMU_ERR_NOMEM);

  const uint32_t t[] = {0, 1, 2, 1};
  uint64_t m = 99;
  size_t sim = mmu_trace_sim_storage_size(MMU_POLICY_CLOCK, 3, 2);
  cr_assert(sim > 0);
  EQ(mmu_trace_sim_storage_size(7, 3, 2), 0);
  EQ(mmu_trace_sim_storage_size(MMU_POLICY_CLOCK, 0, 2), 0);
  EQ(mmu_trace_sim_storage_size(MMU_POLICY_CLOCK, 3, 0), 0);
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, t, 4, 2, 2, storage, sim, &m),
     MMU_ERR_ARG); /* page 2 >= pages */
  ST(mmu_trace_simulate(7, t, 4, 3, 2, storage, sim, &m), MMU_ERR_ARG);
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, t, 4, 3, 2, storage, sim, NULL),
     MMU_ERR_ARG);
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, NULL, 4, 3, 2, storage, sim, &m),
     MMU_ERR_ARG);
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, t, 4, 3, 0, storage, sim, &m),
     MMU_ERR_ARG);
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, t, 4, 3, 2, storage, sim - 1, &m),
     MMU_ERR_STORAGE);
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, t, 4, 3, 2, storage + 4, sim, &m),
     MMU_ERR_STORAGE);
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, t, 4, 3, 2, NULL, sim, &m),
     MMU_ERR_STORAGE);
  EQ(m, 99); /* failures leave the count alone */
  ST(mmu_trace_simulate(MMU_POLICY_CLOCK, t, 4, 3, 2, storage, sim, &m),
     MMU_OK);
  EQ(m, 3);

  size_t opt = mmu_trace_opt_storage_size(4, 3, 2);
  cr_assert(opt > 0);
  EQ(mmu_trace_opt_storage_size(4, 0, 2), 0);
  EQ(mmu_trace_opt_storage_size(4, 3, 0), 0);
  m = 99;
  ST(mmu_trace_opt(t, 4, 2, 2, storage, opt, &m), MMU_ERR_ARG);
  ST(mmu_trace_opt(NULL, 4, 3, 2, storage, opt, &m), MMU_ERR_ARG);
  ST(mmu_trace_opt(t, 4, 3, 2, storage, opt, NULL), MMU_ERR_ARG);
  ST(mmu_trace_opt(t, 4, 3, 2, storage, opt - 1, &m), MMU_ERR_STORAGE);
  ST(mmu_trace_opt(t, 4, 3, 2, storage + 4, opt, &m), MMU_ERR_STORAGE);
  ST(mmu_trace_opt(t, 4, 3, 2, NULL, opt, &m), MMU_ERR_STORAGE);
  EQ(m, 99);
  ST(mmu_trace_opt(t, 4, 3, 2, storage, opt, &m), MMU_OK);
  EQ(m, 3);
  ST(mmu_trace_opt(t, 0, 3, 2, storage, opt, &m), MMU_OK);
  EQ(m, 0);
}

/* ---- trace evaluation ---------------------------------------------------- */

static uint64_t sim(unsigned kind, const uint32_t *t, size_t n,
                    uint32_t pages, uint32_t frames) {
  size_t need = mmu_trace_sim_storage_size(kind, pages, frames);
  cr_assert(need > 0 && need <= sizeof storage);
  uint64_t m = 0;
  ST(mmu_trace_simulate(kind, t, n, pages, frames, storage, need, &m), MMU_OK);
  return m;
}

static uint64_t opt(const uint32_t *t, size_t n, uint32_t pages,
                    uint32_t frames) {
  size_t need = mmu_trace_opt_storage_size(n, pages, frames);
  cr_assert(need > 0 && need <= sizeof storage);
  uint64_t m = 0;
  ST(mmu_trace_opt(t, n, pages, frames, storage, need, &m), MMU_OK);
  return m;
}

Test(trace, belady_anomaly_trace) {
  /* 1 2 3 4 1 2 5 1 2 3 4 5, pages renumbered from 0 */
  static const uint32_t t[] = {0, 1, 2, 3, 0, 1, 4, 0, 1, 2, 3, 4};
  /* OPT, 3 frames: 1 2 3 miss; 4 evicts 3 (used last); 1 2 hit; 5 evicts
   * 4; 1 2 hit; 3 and 4 miss; 5 hits: 7. 4 frames: 1-4 miss; 5 evicts 4;
   * 4 misses again: 6. */
  EQ(opt(t, 12, 5, 3), 7);
  EQ(opt(t, 12, 5, 4), 6);
  /* LRU, 3 frames: hits only on the second "1 2" and nothing else: 10.
   * 4 frames: hits on 1 2, 1 2: 8. */
  EQ(sim(MMU_POLICY_LRU, t, 12, 5, 3), 10);
  EQ(sim(MMU_POLICY_LRU, t, 12, 5, 4), 8);
  /* Clock with every reference setting the bit behaves as FIFO here and
   * shows the anomaly: 9 misses with 3 frames, 10 with 4 (walked through
   * by hand: each scan that finds all bits set clears a full turn and
   * evicts the frame it started at, the oldest) */
  EQ(sim(MMU_POLICY_CLOCK, t, 12, 5, 3), 9);
  EQ(sim(MMU_POLICY_CLOCK, t, 12, 5, 4), 10);
}

/* Exhaustive search over every eviction choice, memoised on (position,
 * resident set): the fewest misses any demand-paging schedule gets. */
static int8_t memo[24][256];

static int brute(const uint32_t *t, unsigned n, unsigned i, unsigned mask,
                 unsigned frames) {
  if (i == n)
    return 0;
  if (memo[i][mask] >= 0)
    return memo[i][mask];
  unsigned bit = 1u << t[i];
  int best;
  if (mask & bit) {
    best = brute(t, n, i + 1, mask, frames);
  } else if ((unsigned)__builtin_popcount(mask) < frames) {
    best = 1 + brute(t, n, i + 1, mask | bit, frames);
  } else {
    best = 1 << 20;
    for (unsigned q = 0; q < 8; q++) {
      if (!(mask & (1u << q)))
        continue;
      int m = 1 + brute(t, n, i + 1, (mask & ~(1u << q)) | bit, frames);
      if (m < best)
        best = m;
    }
  }
  memo[i][mask] = (int8_t)best;
  return best;
}

Test(trace, opt_matches_exhaustive_search) {
  uint64_t s = 42;
  for (int round = 0; round < 4000; round++) {
    uint32_t t[24];
    unsigned n = 1 + (unsigned)(rnd(&s) % 24);
    uint32_t pages = 1 + (uint32_t)(rnd(&s) % 8);
    uint32_t frames = 1 + (uint32_t)(rnd(&s) % 8);
    for (unsigned i = 0; i < n; i++)
      t[i] = (uint32_t)(rnd(&s) % pages);
    memset(memo, -1, sizeof memo);
    int want = brute(t, n, 0, 0, frames);
    uint64_t got = opt(t, n, pages, frames);
    cr_assert(got == (uint64_t)want,
              "round %d (n %u pages %u frames %u): OPT %llu, search %d",
              round, n, pages, frames, (unsigned long long)got, want);
    for (unsigned k = 1; k <= MMU_POLICY_TWO_LIST; k++)
      cr_assert(sim(k, t, n, pages, frames) >= got);
  }
}

/* A trace with locality: mostly a drifting working set, some far jumps. */
static void random_trace(uint32_t *t, size_t n, uint32_t pages, uint64_t *s) {
  uint32_t base = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rnd(s);
    if (r % 100 < 3)
      base = (uint32_t)((r >> 8) % pages);
    if (r % 100 < 15)
      t[i] = (uint32_t)((r >> 20) % pages);
    else
      t[i] = (base + (uint32_t)((r >> 20) % 12)) % pages;
  }
}

Test(trace, opt_never_worse_than_a_policy) {
  static uint32_t t[5000];
  uint64_t s = 7;
  for (int round = 0; round < 40; round++) {
    uint32_t pages = 10 + (uint32_t)(rnd(&s) % 90);
    random_trace(t, 5000, pages, &s);
    for (uint32_t frames = 1; frames <= pages; frames += 1 + frames / 3) {
      uint64_t o = opt(t, 5000, pages, frames);
      for (unsigned k = 0; k <= MMU_POLICY_TWO_LIST; k++) {
        uint64_t m = sim(k, t, 5000, pages, frames);
        cr_assert(m >= o, "round %d frames %u: %s %llu < OPT %llu", round,
                  frames, mmu_policy_name(k), (unsigned long long)m,
                  (unsigned long long)o);
      }
    }
    /* with room for every page, only first touches miss */
    uint64_t distinct = 0;
    uint8_t seen[100] = {0};
    for (int i = 0; i < 5000; i++)
      if (!seen[t[i]]) {
        seen[t[i]] = 1;
        distinct++;
      }
    EQ(opt(t, 5000, pages, pages + 5), distinct);
    for (unsigned k = 1; k <= MMU_POLICY_TWO_LIST; k++)
      EQ(sim(k, t, 5000, pages, pages), distinct);
  }
}

/* Runs `kind` and an independent model of it on random traces with
 * locality, over a spread of frame counts; pages stay below 64. */
typedef uint64_t (*model_fn)(const uint32_t *t, size_t n, uint32_t pages,
                             uint32_t frames);

static void check_model(unsigned kind, model_fn model, uint64_t seed) {
  static uint32_t t[4000];
  for (int round = 0; round < 30; round++) {
    uint32_t pages = 5 + (uint32_t)(rnd(&seed) % 59);
    random_trace(t, 4000, pages, &seed);
    for (uint32_t k = 1; k <= pages; k += 1 + k / 4) {
      uint64_t want = model(t, 4000, pages, k);
      uint64_t got = sim(kind, t, 4000, pages, k);
      cr_assert(got == want, "%s, round %d, %u pages, %u frames: %llu "
                "misses, the model %llu", mmu_policy_name(kind), round,
                pages, k, (unsigned long long)got, (unsigned long long)want);
    }
  }
}

/* Mattson: LRU with k frames misses exactly the references whose stack
 * distance exceeds k (first touches: infinite). */
static uint64_t stack_distance_lru(const uint32_t *t, size_t n,
                                   uint32_t pages, uint32_t frames) {
  uint32_t stack[64], depth = 0;
  uint64_t misses = 0;
  (void)pages;
  for (size_t i = 0; i < n; i++) {
    uint32_t d = 0;
    while (d < depth && stack[d] != t[i])
      d++;
    if (d == depth) { /* first touch */
      depth++;
      misses++;
    } else if (d + 1 > frames) { /* stack distance d + 1 */
      misses++;
    }
    memmove(stack + 1, stack, d * sizeof stack[0]);
    stack[0] = t[i];
  }
  return misses;
}

/* The array form: frames in a circle, a hand, a bit per frame set by
 * every reference; a miss clears bits until it finds a clear one,
 * replaces that page in place and moves the hand past it. */
static uint64_t textbook_clock(const uint32_t *t, size_t n, uint32_t pages,
                               uint32_t frames) {
  uint32_t page[64], where[64], used = 0, hand = 0;
  uint8_t bit[64] = {0};
  uint64_t misses = 0;
  (void)pages;
  memset(where, 0xFF, sizeof where);
  for (size_t i = 0; i < n; i++) {
    uint32_t x = t[i], f;
    if (where[x] != NO_FRAME) {
      bit[where[x]] = 1;
      continue;
    }
    misses++;
    if (used < frames) {
      f = used++;
    } else {
      while (bit[hand]) {
        bit[hand] = 0;
        hand = (hand + 1) % frames;
      }
      f = hand;
      hand = (hand + 1) % frames;
      where[page[f]] = NO_FRAME;
    }
    page[f] = x;
    where[x] = f;
    bit[f] = 1;
  }
  return misses;
}

/* Per resident page a count (1 on load, +1 per hit) and the time of its
 * last reference; a linear scan evicts the least count, ties to the
 * oldest reference. */
static uint64_t linear_scan_lfu(const uint32_t *t, size_t n, uint32_t pages,
                                uint32_t frames) {
  uint64_t count[64], last[64], misses = 0;
  uint8_t in[64] = {0};
  uint32_t resident = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t x = t[i];
    if (in[x]) {
      count[x]++;
      last[x] = i;
      continue;
    }
    misses++;
    if (resident == frames) {
      uint32_t v = NO_FRAME;
      for (uint32_t q = 0; q < pages; q++)
        if (in[q] && (v == NO_FRAME || count[q] < count[v] ||
                      (count[q] == count[v] && last[q] < last[v])))
          v = q;
      in[v] = 0;
      resident--;
    }
    in[x] = 1;
    count[x] = 1;
    last[x] = i;
    resident++;
  }
  return misses;
}

Test(trace, lru_matches_stack_distances) {
  check_model(MMU_POLICY_LRU, stack_distance_lru, 99);
}

Test(trace, clock_matches_textbook_clock) {
  check_model(MMU_POLICY_CLOCK, textbook_clock, 5);
}

Test(trace, lfu_matches_linear_scan) {
  check_model(MMU_POLICY_LFU, linear_scan_lfu, 11);
}

Test(trace, loop_one_page_too_many) {
  /* a loop over 6 pages in 5 frames: LRU and Clock (every bit set, so
   * FIFO) evict each page just before it comes back, so every reference
   * misses. OPT: 5 first touches, then one miss every 5 references (at 5,
   * 10, ... 595: the page it evicts is the one used furthest ahead) */
  static uint32_t t[600];
  for (int i = 0; i < 600; i++)
    t[i] = (uint32_t)(i % 6);
  EQ(sim(MMU_POLICY_LRU, t, 600, 6, 5), 600);
  EQ(sim(MMU_POLICY_CLOCK, t, 600, 6, 5), 600);
  EQ(opt(t, 600, 6, 5), 5 + 119);
}
