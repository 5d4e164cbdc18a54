/* SPDX-License-Identifier: MIT */
/* policy.c - page replacement (LRU, Clock, LFU, Linux's two lists) and the
 * offline trace evaluation, Belady's OPT included.
 *
 * Every policy keeps its frames on doubly linked lists threaded through the
 * prev/next arrays, so insert, remove and access are O(1). LFU is the O(1)
 * scheme of Shah, Mitra and Matani: one list of frames per distinct count
 * ("bucket"), the buckets on a list in increasing count; bucket b's links
 * live at node frames + b, so one pair of link arrays serves both levels.
 * Clock and the two lists scan, bounded by twice the resident count. */
#include "internal.h"

#define MMU__POLICY_MAGIC 0x4D4D5550u /* "MMUP" */

#define MMU__NIL UINT32_MAX

enum {
  MMU__RESIDENT = 1,
  MMU__ACTIVE = 2 /* two lists: on the active list */
};

static unsigned mmu__policy_kind(unsigned kind) {
  return kind == MMU_POLICY_DEFAULT ? (unsigned)MMU_POLICY_TWO_LIST : kind;
}

MMU_API const char *mmu_policy_name(unsigned kind) {
  switch (kind) {
  case MMU_POLICY_DEFAULT: return "two-list";
  case MMU_POLICY_LRU: return "lru";
  case MMU_POLICY_CLOCK: return "clock";
  case MMU_POLICY_LFU: return "lfu";
  case MMU_POLICY_TWO_LIST: return "two-list";
  default: return "unknown";
  }
}

/* Bytes per frame: LFU needs link nodes for its buckets, a bucket head and
 * tail, a count and an owner per frame. */
static uint64_t mmu__policy_bytes_per_frame(unsigned kind) {
  uint64_t links = 2 * sizeof(uint32_t);
  if (kind == MMU_POLICY_LFU)
    return 2 * links + 3 * sizeof(uint32_t) + sizeof(uint64_t) + 1;
  return links + 1;
}

MMU_API size_t mmu_policy_storage_size(unsigned kind, uint32_t frames) {
  if (kind > MMU_POLICY_TWO_LIST || frames == 0 || frames > (1u << 31))
    return 0;
  /* below 2^38 in 64 bits; too much only for a 32-bit size_t */
  uint64_t bytes = ((uint64_t)frames *
                        mmu__policy_bytes_per_frame(mmu__policy_kind(kind)) +
                    7) & ~(uint64_t)7;
  return bytes > SIZE_MAX ? 0 : (size_t)bytes;
}

/* need == 0: the size query refused the arguments. */
static int mmu__storage_check(size_t need, const void *storage, size_t bytes) {
  if (need == 0)
    return MMU_ERR_ARG;
  if (!storage || ((uintptr_t)storage & 7) != 0 || bytes < need)
    return MMU_ERR_STORAGE;
  return MMU_OK;
}

MMU_API int mmu_policy_init(mmu_policy *p, unsigned kind, uint32_t frames,
                            void *storage, size_t bytes) {
  if (!p || kind > MMU_POLICY_TWO_LIST || frames == 0 || frames > (1u << 31))
    return MMU_ERR_ARG;
  int st = mmu__storage_check(mmu_policy_storage_size(kind, frames), storage,
                              bytes);
  if (st != MMU_OK)
    return st;
  memset(p, 0, sizeof *p);
  p->magic = MMU__POLICY_MAGIC;
  p->version = MMU_VERSION;
  p->kind = mmu__policy_kind(kind);
  p->frames = frames;
  for (int i = 0; i < 2; i++)
    p->head[i] = p->tail[i] = MMU__NIL;
  p->hand = MMU__NIL;
  p->free_bucket = MMU__NIL;
  /* 8-byte fields first, then 4-byte, then bytes: each stays aligned */
  uint8_t *s = (uint8_t *)storage;
  uint32_t nodes = frames;
  if (p->kind == MMU_POLICY_LFU) {
    p->bucket_count = (uint64_t *)(void *)s;
    s += (size_t)frames * sizeof(uint64_t);
    nodes = 2 * frames; /* frames, then buckets */
  }
  p->prev = (uint32_t *)(void *)s;
  s += (size_t)nodes * sizeof(uint32_t);
  p->next = (uint32_t *)(void *)s;
  s += (size_t)nodes * sizeof(uint32_t);
  if (p->kind == MMU_POLICY_LFU) {
    p->bucket_head = (uint32_t *)(void *)s;
    s += (size_t)frames * sizeof(uint32_t);
    p->bucket_tail = (uint32_t *)(void *)s;
    s += (size_t)frames * sizeof(uint32_t);
    p->owner = (uint32_t *)(void *)s;
    s += (size_t)frames * sizeof(uint32_t);
    /* every bucket slot starts on the free list (linked through next) */
    for (uint32_t b = 0; b < frames; b++)
      p->next[frames + b] = b + 1 < frames ? b + 1 : MMU__NIL;
    p->free_bucket = 0;
  }
  p->state = s;
  memset(p->state, 0, frames);
  return MMU_OK;
}

/* ---- doubly linked lists over node numbers (head = most recent) ------- */

static void mmu__list_push_head(mmu_policy *p, uint32_t *head, uint32_t *tail,
                                uint32_t x) {
  p->prev[x] = MMU__NIL;
  p->next[x] = *head;
  if (*head != MMU__NIL)
    p->prev[*head] = x;
  else
    *tail = x;
  *head = x;
}

/* Insert x after node `at` (at != NIL). */
static void mmu__list_insert_after(mmu_policy *p, uint32_t *tail, uint32_t at,
                                   uint32_t x) {
  p->prev[x] = at;
  p->next[x] = p->next[at];
  if (p->next[at] != MMU__NIL)
    p->prev[p->next[at]] = x;
  else
    *tail = x;
  p->next[at] = x;
}

static void mmu__list_unlink(mmu_policy *p, uint32_t *head, uint32_t *tail,
                             uint32_t x) {
  if (p->prev[x] != MMU__NIL)
    p->next[p->prev[x]] = p->next[x];
  else
    *head = p->next[x];
  if (p->next[x] != MMU__NIL)
    p->prev[p->next[x]] = p->prev[x];
  else
    *tail = p->prev[x];
}

/* ---- LFU buckets ------------------------------------------------------- */

/* A bucket of count c, linked after bucket `after` (NIL: at the head). A
 * free slot always exists: nonempty buckets never outnumber frames. */
static uint32_t mmu__lfu_bucket_new(mmu_policy *p, uint32_t after,
                                    uint64_t c) {
  uint32_t b = p->free_bucket;
  MMU_ASSERT(b != MMU__NIL);
  uint32_t node = p->frames + b;
  p->free_bucket = p->next[node];
  p->bucket_count[b] = c;
  p->bucket_head[b] = p->bucket_tail[b] = MMU__NIL;
  if (after == MMU__NIL)
    mmu__list_push_head(p, &p->head[0], &p->tail[0], node);
  else
    mmu__list_insert_after(p, &p->tail[0], p->frames + after, node);
  return b;
}

static void mmu__lfu_free_if_empty(mmu_policy *p, uint32_t b) {
  if (p->bucket_head[b] != MMU__NIL)
    return;
  uint32_t node = p->frames + b;
  mmu__list_unlink(p, &p->head[0], &p->tail[0], node);
  p->next[node] = p->free_bucket;
  p->free_bucket = b;
}

/* Frame f joins the bucket of count c that follows bucket `after` (NIL:
 * the lowest), at its head: within a bucket, frames are in order of their
 * last reference, which is when they joined it. */
static void mmu__lfu_attach(mmu_policy *p, uint32_t f, uint32_t after,
                            uint64_t c) {
  uint32_t nb = after == MMU__NIL ? p->head[0] : p->next[p->frames + after];
  uint32_t b = nb != MMU__NIL && p->bucket_count[nb - p->frames] == c
                   ? nb - p->frames
                   : mmu__lfu_bucket_new(p, after, c);
  p->owner[f] = b;
  mmu__list_push_head(p, &p->bucket_head[b], &p->bucket_tail[b], f);
}

/* ---- the operations ------------------------------------------------------ */

static int mmu__policy_check(const mmu_policy *p, uint32_t frame) {
  MMU__TRY(MMU__CHECK_OBJ(p, MMU__POLICY_MAGIC));
  return frame < p->frames ? MMU_OK : MMU_ERR_ARG;
}

MMU_API int mmu_policy_insert(mmu_policy *p, uint32_t frame) {
  MMU__TRY(mmu__policy_check(p, frame));
  if (p->state[frame] & MMU__RESIDENT)
    return MMU_OK;
  p->state[frame] = MMU__RESIDENT;
  p->resident++;
  switch (p->kind) {
  case MMU_POLICY_LRU:
    mmu__list_push_head(p, &p->head[0], &p->tail[0], frame);
    break;
  case MMU_POLICY_LFU:
    mmu__lfu_attach(p, frame, MMU__NIL, 1);
    break;
  case MMU_POLICY_CLOCK:
    /* just behind the hand: the last the hand will reach */
    if (p->hand == MMU__NIL) {
      p->prev[frame] = p->next[frame] = frame;
      p->hand = frame;
    } else {
      uint32_t behind = p->prev[p->hand];
      p->prev[frame] = behind;
      p->next[frame] = p->hand;
      p->next[behind] = frame;
      p->prev[p->hand] = frame;
    }
    break;
  default: /* two lists: new pages start inactive (Linux since 5.9) */
    mmu__list_push_head(p, &p->head[0], &p->tail[0], frame);
    p->count[0]++;
    break;
  }
  return MMU_OK;
}

MMU_API int mmu_policy_remove(mmu_policy *p, uint32_t frame) {
  MMU__TRY(mmu__policy_check(p, frame));
  if (!(p->state[frame] & MMU__RESIDENT))
    return MMU_OK;
  switch (p->kind) {
  case MMU_POLICY_LRU:
    mmu__list_unlink(p, &p->head[0], &p->tail[0], frame);
    break;
  case MMU_POLICY_LFU: {
    uint32_t b = p->owner[frame];
    mmu__list_unlink(p, &p->bucket_head[b], &p->bucket_tail[b], frame);
    mmu__lfu_free_if_empty(p, b);
    break;
  }
  case MMU_POLICY_CLOCK:
    if (p->resident == 1) {
      p->hand = MMU__NIL;
    } else {
      if (p->hand == frame)
        p->hand = p->next[frame];
      p->next[p->prev[frame]] = p->next[frame];
      p->prev[p->next[frame]] = p->prev[frame];
    }
    break;
  default: {
    int l = (p->state[frame] & MMU__ACTIVE) ? 1 : 0;
    mmu__list_unlink(p, &p->head[l], &p->tail[l], frame);
    p->count[l]--;
    break;
  }
  }
  p->state[frame] = 0;
  p->resident--;
  return MMU_OK;
}

/* Clock and the two lists learn of references only through the callback,
 * as a kernel learns of them only from Accessed bits. */
MMU_API int mmu_policy_access(mmu_policy *p, uint32_t frame) {
  MMU__TRY(mmu__policy_check(p, frame));
  if (!(p->state[frame] & MMU__RESIDENT))
    return MMU_OK;
  if (p->kind == MMU_POLICY_LRU) {
    mmu__list_unlink(p, &p->head[0], &p->tail[0], frame);
    mmu__list_push_head(p, &p->head[0], &p->tail[0], frame);
  } else if (p->kind == MMU_POLICY_LFU) {
    uint32_t b = p->owner[frame];
    uint64_t c = p->bucket_count[b] + 1;
    uint32_t nb = p->next[p->frames + b];
    mmu__list_unlink(p, &p->bucket_head[b], &p->bucket_tail[b], frame);
    if (p->bucket_head[b] == MMU__NIL &&
        (nb == MMU__NIL || p->bucket_count[nb - p->frames] != c)) {
      /* alone in its bucket: the bucket itself moves up a count (there
       * may be no free slot for a new one) */
      p->bucket_count[b] = c;
      mmu__list_push_head(p, &p->bucket_head[b], &p->bucket_tail[b], frame);
    } else {
      mmu__lfu_attach(p, frame, b, c);
      mmu__lfu_free_if_empty(p, b);
    }
  }
  return MMU_OK;
}

static int mmu__test_clear(mmu_referenced_fn referenced, void *user,
                           uint32_t frame) {
  return referenced && referenced(user, frame) != 0;
}

static void mmu__two_list_move(mmu_policy *p, uint32_t frame, int to) {
  int from = !to;
  mmu__list_unlink(p, &p->head[from], &p->tail[from], frame);
  p->count[from]--;
  mmu__list_push_head(p, &p->head[to], &p->tail[to], frame);
  p->count[to]++;
  p->state[frame] = (uint8_t)(MMU__RESIDENT | (to ? MMU__ACTIVE : 0));
}

/* Linux's reclaim, one page at a time. While the inactive list is shorter
 * than the active one (inactive_is_low() with ratio 1, small memories),
 * the active tail is deactivated; shrink_active_list() clears its Accessed
 * bits but moves a referenced anon page to the inactive list all the same
 * (only referenced executable file pages get another active trip). Then
 * the inactive tail: referenced -> activated (folio_check_references()
 * activates a referenced anon page), else evicted. An honest callback
 * activates each page at most once per call; the budget of 2 x resident
 * activations bounds a callback that always answers 1. */
static uint32_t mmu__two_list_victim(mmu_policy *p, mmu_referenced_fn ref,
                                     void *user) {
  uint64_t budget = 2 * (uint64_t)p->resident;
  for (;;) {
    while (p->count[0] < p->count[1]) {
      uint32_t a = p->tail[1];
      (void)mmu__test_clear(ref, user, a);
      mmu__two_list_move(p, a, 0);
    }
    uint32_t t = p->tail[0];
    if (budget > 0 && mmu__test_clear(ref, user, t)) {
      budget--;
      mmu__two_list_move(p, t, 1);
      continue;
    }
    return t;
  }
}

/* Second chance: a referenced frame under the hand is passed over (the
 * callback clears its bit). After two full turns the frame under the hand
 * goes whatever the callback says. */
static uint32_t mmu__clock_victim(mmu_policy *p, mmu_referenced_fn ref,
                                  void *user) {
  uint64_t limit = 2 * (uint64_t)p->resident;
  for (uint64_t scanned = 0; scanned < limit; scanned++) {
    if (!mmu__test_clear(ref, user, p->hand))
      break;
    p->hand = p->next[p->hand];
  }
  return p->hand;
}

MMU_API int mmu_policy_victim(mmu_policy *p, mmu_referenced_fn referenced,
                              void *user, uint32_t *frame) {
  MMU__TRY(MMU__CHECK_OBJ(p, MMU__POLICY_MAGIC));
  if (!frame)
    return MMU_ERR_ARG;
  if (p->resident == 0)
    return MMU_ERR_NOMEM;
  uint32_t v;
  switch (p->kind) {
  case MMU_POLICY_LRU:
    v = p->tail[0];
    break;
  case MMU_POLICY_LFU:
    v = p->bucket_tail[p->head[0] - p->frames];
    break;
  case MMU_POLICY_CLOCK:
    v = mmu__clock_victim(p, referenced, user);
    break;
  default:
    v = mmu__two_list_victim(p, referenced, user);
    break;
  }
  mmu_policy_remove(p, v);
  *frame = v;
  return MMU_OK;
}

/* ---- offline evaluation ------------------------------------------------- */

static uint64_t mmu__round8(uint64_t x) { return (x + 7) & ~(uint64_t)7; }

static uint32_t mmu__min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Policy storage, then page -> frame (pages), frame -> page and the
 * referenced bits (frames). More frames than pages are never used. */
MMU_API size_t mmu_trace_sim_storage_size(unsigned kind, uint32_t pages,
                                          uint32_t frames) {
  if (pages == 0 || frames == 0)
    return 0;
  uint32_t f = mmu__min_u32(frames, pages);
  size_t pol = mmu_policy_storage_size(kind, f);
  if (pol == 0)
    return 0;
  uint64_t bytes = pol + mmu__round8((uint64_t)pages * sizeof(uint32_t)) +
                   mmu__round8((uint64_t)f * (sizeof(uint32_t) + 1));
  return bytes > SIZE_MAX ? 0 : (size_t)bytes;
}

static int mmu__trace_valid(const uint32_t *trace, size_t n, uint32_t pages) {
  if (n && !trace)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (trace[i] >= pages)
      return 0;
  return 1;
}

/* The simulator's referenced bits: test and clear, as a kernel does to a
 * PTE's Accessed bit. */
static int mmu__trace_referenced(void *user, uint32_t frame) {
  uint8_t *bits = (uint8_t *)user;
  int was = bits[frame];
  bits[frame] = 0;
  return was;
}

MMU_API int mmu_trace_simulate(unsigned kind, const uint32_t *trace, size_t n,
                               uint32_t pages, uint32_t frames, void *storage,
                               size_t bytes, uint64_t *misses) {
  if (!misses || kind > MMU_POLICY_TWO_LIST || pages == 0 || frames == 0 ||
      !mmu__trace_valid(trace, n, pages))
    return MMU_ERR_ARG;
  int st = mmu__storage_check(mmu_trace_sim_storage_size(kind, pages, frames),
                              storage, bytes);
  if (st != MMU_OK)
    return st;
  uint32_t nf = mmu__min_u32(frames, pages);
  size_t pol = mmu_policy_storage_size(kind, nf);
  mmu_policy p;
  st = mmu_policy_init(&p, kind, nf, storage, pol);
  if (st != MMU_OK)
    return st;
  uint8_t *s = (uint8_t *)storage + pol;
  uint32_t *page_frame = (uint32_t *)(void *)s;
  s += (size_t)mmu__round8((uint64_t)pages * sizeof(uint32_t));
  uint32_t *frame_page = (uint32_t *)(void *)s;
  uint8_t *bits = s + (size_t)nf * sizeof(uint32_t);
  memset(page_frame, 0xFF, (size_t)pages * sizeof(uint32_t));
  memset(bits, 0, nf);
  /* LRU and LFU are told of every reference; Clock and the two lists see
   * only the bit each reference sets */
  int explicit_refs = p.kind == MMU_POLICY_LRU || p.kind == MMU_POLICY_LFU;
  uint32_t used = 0;
  uint64_t miss = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t pg = trace[i];
    uint32_t f = page_frame[pg];
    if (f == MMU__NIL) {
      miss++;
      if (used < nf) {
        f = used++;
      } else {
        st = mmu_policy_victim(&p, mmu__trace_referenced, bits, &f);
        MMU_ASSERT(st == MMU_OK);
        page_frame[frame_page[f]] = MMU__NIL;
      }
      frame_page[f] = pg;
      page_frame[pg] = f;
      mmu_policy_insert(&p, f); /* a reference for LRU and LFU */
    } else if (explicit_refs) {
      mmu_policy_access(&p, f);
    }
    bits[f] = 1;
  }
  *misses = miss;
  return MMU_OK;
}

/* OPT's storage: the next use of every reference (n), each page's heap
 * slot (pages), and a max-heap of (next use, page) over the resident pages
 * (frames). Positions are uint32: n is at most 2^32 - 1, and 2^32 - 1
 * means "never used again". */
typedef struct mmu__opt_slot {
  uint32_t next_use, page;
} mmu__opt_slot;

MMU_API size_t mmu_trace_opt_storage_size(size_t n, uint32_t pages,
                                          uint32_t frames) {
  if (pages == 0 || frames == 0 || (uint64_t)n > UINT32_MAX)
    return 0;
  uint32_t f = mmu__min_u32(frames, pages);
  uint64_t bytes = mmu__round8((uint64_t)n * sizeof(uint32_t)) +
                   mmu__round8((uint64_t)pages * sizeof(uint32_t)) +
                   (uint64_t)f * sizeof(mmu__opt_slot);
  return bytes > SIZE_MAX ? 0 : (size_t)bytes;
}

static void mmu__opt_swap(mmu__opt_slot *h, uint32_t *slot, uint32_t a,
                          uint32_t b) {
  mmu__opt_slot t = h[a];
  h[a] = h[b];
  h[b] = t;
  slot[h[a].page] = a;
  slot[h[b].page] = b;
}

static void mmu__opt_up(mmu__opt_slot *h, uint32_t *slot, uint32_t i) {
  while (i > 0 && h[(i - 1) / 2].next_use < h[i].next_use) {
    mmu__opt_swap(h, slot, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void mmu__opt_down(mmu__opt_slot *h, uint32_t *slot, uint32_t count,
                          uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, big = i;
    if (l < count && h[l].next_use > h[big].next_use)
      big = l;
    if (r < count && h[r].next_use > h[big].next_use)
      big = r;
    if (big == i)
      return;
    mmu__opt_swap(h, slot, i, big);
    i = big;
  }
}

/* On a hit the page's key grows from "now" to its following use, so it
 * only ever sifts up; a miss with full frames replaces the root. Pages
 * tied for "furthest" are all never used again: any of them gives the same
 * miss count. */
MMU_API int mmu_trace_opt(const uint32_t *trace, size_t n, uint32_t pages,
                          uint32_t frames, void *storage, size_t bytes,
                          uint64_t *misses) {
  if (!misses || pages == 0 || frames == 0 || (n && !trace))
    return MMU_ERR_ARG;
  int st = mmu__storage_check(mmu_trace_opt_storage_size(n, pages, frames),
                              storage, bytes);
  if (st != MMU_OK)
    return st;
  uint32_t nf = mmu__min_u32(frames, pages);
  uint8_t *s = (uint8_t *)storage;
  uint32_t *next_use = (uint32_t *)(void *)s;
  s += (size_t)mmu__round8((uint64_t)n * sizeof(uint32_t));
  uint32_t *slot = (uint32_t *)(void *)s;
  s += (size_t)mmu__round8((uint64_t)pages * sizeof(uint32_t));
  mmu__opt_slot *heap = (mmu__opt_slot *)(void *)s;

  /* backwards: slot[] holds each page's nearest later use for now */
  memset(slot, 0xFF, (size_t)pages * sizeof(uint32_t));
  for (size_t i = n; i-- > 0;) {
    if (trace[i] >= pages)
      return MMU_ERR_ARG;
    next_use[i] = slot[trace[i]];
    slot[trace[i]] = (uint32_t)i;
  }
  memset(slot, 0xFF, (size_t)pages * sizeof(uint32_t));
  uint32_t count = 0;
  uint64_t miss = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t pg = trace[i];
    if (slot[pg] != MMU__NIL) {
      heap[slot[pg]].next_use = next_use[i];
      mmu__opt_up(heap, slot, slot[pg]);
      continue;
    }
    miss++;
    if (count < nf) {
      heap[count].next_use = next_use[i];
      heap[count].page = pg;
      slot[pg] = count;
      mmu__opt_up(heap, slot, count++);
    } else {
      slot[heap[0].page] = MMU__NIL;
      heap[0].next_use = next_use[i];
      heap[0].page = pg;
      slot[pg] = 0;
      mmu__opt_down(heap, slot, count, 0);
    }
  }
  *misses = miss;
  return MMU_OK;
}
