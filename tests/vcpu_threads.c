/* SPDX-License-Identifier: MIT */
/* vcpu_threads.c - vCPU threads running a space while the OS side works
 * (SPEC 2.3, 9.1): several threads, each with its own managed cpu, read
 * and write their own 8-byte slot of every page of a private region and of
 * a MAP_SHARED one (one process, CLONE_VM), and take the embedder's lock
 * only to resolve a fault. Meanwhile the main thread, under the lock, reclaims (swap-out),
 * forks the space, checks the child's snapshot stays frozen, lets the
 * child write, destroys it, ages the pages, and mprotects the region
 * read-only and back. A small pool keeps reclaim running inside the
 * threads' faults too.
 *
 * Every read must return the thread's last write to that slot (no lost
 * write), no fault may end in an error (no corrupt page), and a child's
 * private pages must keep the values they had at fork (the shared ones
 * are the child's too). Built twice by CMake:
 * plainly, and with -fsanitize=thread (then any report fails the run).
 *
 * usage: vcpu_threads [SECONDS] (default 2; MMU_THREADS_SECONDS too)
 * exit: 0 clean, 1 a lost write, corrupt page or error, 2 set-up failed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MMU_IMPLEMENTATION
#include "os_world.h"

#define THREADS 3
#define PRIVATE 96 /* pages of a private region, then of a shared one */
#define SHARED 16
#define PAGES (PRIVATE + SHARED)
#define FRAMES 160 /* room for the pages, not for a child as well */
#define SLOTS 1024
#define REGION 0x10000000ull
#define SHARED_REGION 0x20000000ull
#define RW (MMU_PROT_READ | MMU_PROT_WRITE)

static osw W;
static mmu_space P, C; /* the process and its forked child */
static int have_child;
static uint64_t snapshot[PRIVATE][THREADS]; /* the child's slots at fork */
static mmu_object shm; /* MAP_SHARED | MAP_ANONYMOUS: the child shares it */
static uint64_t shm_storage[SHARED];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop, failed;
static atomic_ulong kicks;

typedef struct vcpu {
  mmu_cpu cpu;
  void *tlb;
  int id;
  uint64_t expected[PAGES];
  unsigned long reads, writes, faults, lost;
  pthread_t thread;
} vcpu;
static vcpu V[THREADS];

static void fail(const char *what, int id, long detail) {
  if (atomic_fetch_add(&failed, 1) < 10)
    fprintf(stderr, "vcpu_threads: %s (thread %d, %ld)\n", what, id, detail);
}

static uint64_t slot_va(uint64_t page, int id) {
  if (page >= PRIVATE)
    return SHARED_REGION + (page - PRIVATE) * 4096 + (uint64_t)id * 8;
  return REGION + page * 4096 + (uint64_t)id * 8;
}

/* A #PF as an embedder's vCPU loop resolves it: out of guest code, take
 * the lock, let the OS side handle it, back in. */
static int resolve(vcpu *v, const mmu_result *r) {
  mmu_fault_info info;
  v->faults++;
  mmu_cpu_leave(&v->cpu);
  pthread_mutex_lock(&lock);
  int rc = mmu_space_fault(&P, r->cr2, r->error_code, &info);
  pthread_mutex_unlock(&lock);
  mmu_cpu_enter(&v->cpu);
  if (rc != MMU_OK) {
    fail(mmu_status_name(rc), v->id, (long)r->cr2);
    return -1;
  }
  if (info.fault_class == MMU_FAULT_SEGV) /* mprotect made it read-only */
    return 1;
  return 0;
}

static uint64_t *slot_host(vcpu *v, uint64_t va, unsigned access) {
  for (int round = 0; round < 100; round++) {
    mmu_result r;
    mmu_cpu_sync(&v->cpu); /* the interrupt window */
    int rc = mmu_translate(&v->cpu, va, access, &r);
    if (rc == MMU_OK)
      return (uint64_t *)(void *)r.host;
    if (rc != MMU_PAGE_FAULT) {
      fail("translate", v->id, rc);
      return NULL;
    }
    int how = resolve(v, &r);
    if (how < 0)
      return NULL;
    if (how > 0) { /* read-only for now: wait for the main thread */
      mmu_cpu_leave(&v->cpu);
      sched_yield();
      mmu_cpu_enter(&v->cpu);
    }
  }
  return NULL; /* stays read-only: try another page */
}

static void *vcpu_main(void *arg) {
  vcpu *v = (vcpu *)arg;
  uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(v->id + 1);
  mmu_cpu_enter(&v->cpu);
  while (!atomic_load_explicit(&stop, memory_order_relaxed) &&
         !atomic_load_explicit(&failed, memory_order_relaxed)) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t page = x % PAGES, va = slot_va(page, v->id);
    uint64_t *p = slot_host(v, va, MMU_READ);
    if (!p)
      continue;
    v->reads++;
    if (*p != v->expected[page]) {
      v->lost++;
      fail("lost write", v->id, (long)page);
    }
    if (!(p = slot_host(v, va, MMU_WRITE)))
      continue;
    *p = ++v->expected[page];
    v->writes++;
  }
  mmu_cpu_leave(&v->cpu);
  return NULL;
}

static void kick(void *user, mmu_cpu *cpu) {
  (void)user;
  (void)cpu;
  atomic_fetch_add_explicit(&kicks, 1, memory_order_relaxed);
}

/* Read a space's slot through the main thread's cpu (under the lock). */
static int peek(mmu_space *s, uint64_t page, int id, uint64_t *value) {
  if (mmu_space_activate(s, &W.cpu) != MMU_OK)
    return -1;
  return mmu_space_read(s, &W.cpu, slot_va(page, id), value, 8, NULL);
}

static void fork_child(void) {
  if (osw_fork(&P, &C) != MMU_OK)
    return; /* pool or swap full this time */
  have_child = 1;
  for (uint64_t p = 0; p < PRIVATE; p++)
    for (int t = 0; t < THREADS; t++)
      if (peek(&C, p, t, &snapshot[p][t]) != MMU_OK)
        fail("child read", t, (long)p);
}

static void check_child_and_exit(int write_first) {
  uint64_t junk = ~0ull;
  for (uint64_t p = 0; p < PRIVATE; p++)
    for (int t = 0; t < THREADS; t++) {
      uint64_t now;
      if (peek(&C, p, t, &now) != MMU_OK)
        fail("child read", t, (long)p);
      else if (now != snapshot[p][t])
        fail("child's page changed after fork", t, (long)p);
    }
  /* the child's own writes stay in the child */
  if (write_first)
    for (uint64_t p = 0; p < PRIVATE; p += 7)
      if (mmu_space_write(&C, &W.cpu, slot_va(p, (int)(p % THREADS)), &junk, 8,
                          NULL) != MMU_OK)
        fail("child write", 0, (long)p);
  osw_space_free(&C);
  have_child = 0;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0;
  if (seconds <= 0 && getenv("MMU_THREADS_SECONDS"))
    seconds = atof(getenv("MMU_THREADS_SECONDS"));
  if (seconds <= 0)
    seconds = 2;
  if (osw_init(&W, FRAMES, SLOTS, MMU_POLICY_CLOCK, 0) != 0)
    return 2;
  W.cfg.kick = kick;
  size_t need = mmu_system_storage_size(&W.cfg);
  if (mmu_system_init(&W.sys, &W.cfg, W.sys_storage, need) != MMU_OK)
    return 2;
  uint64_t got;
  if (osw_space(&W, &P, NULL) != MMU_OK ||
      mmu_space_mmap(&P, REGION, PRIVATE * 4096, RW, MMU_MAP_FIXED, NULL, 0,
                     &got) != MMU_OK ||
      mmu_object_init(&shm, &W.sys, SHARED, NULL, shm_storage,
                      sizeof shm_storage) != MMU_OK ||
      mmu_space_mmap_object(&P, SHARED_REGION, SHARED * 4096, RW,
                            MMU_MAP_FIXED, &shm, 0, &got) != MMU_OK)
    return 2;
  for (int t = 0; t < THREADS; t++) {
    V[t].id = t;
    if (osw_cpu(&W, &V[t].cpu, &V[t].tlb) != 0 ||
        mmu_space_activate(&P, &V[t].cpu) != MMU_OK)
      return 2;
    mmu_cpu_leave(&V[t].cpu); /* managed from here on */
  }
  for (int t = 0; t < THREADS; t++)
    if (pthread_create(&V[t].thread, NULL, vcpu_main, &V[t]) != 0)
      return 2;

  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  unsigned long rounds = 0, forks = 0, reclaimed = 0;
  uint64_t x = 12345;
  do {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    pthread_mutex_lock(&lock);
    uint32_t n = 0;
    switch (x % 8) {
    case 0: case 1: case 2:
      mmu_system_reclaim(&W.sys, 1 + (uint32_t)(x >> 8) % 16, &n);
      reclaimed += n;
      break;
    case 3:
      if (!have_child) {
        fork_child();
        forks += have_child;
      } else {
        check_child_and_exit((x >> 8) & 1);
      }
      break;
    case 4:
      mmu_system_age(&W.sys);
      break;
    case 5: { /* read-only for a moment: writers wait, nothing is lost */
      uint64_t page = (x >> 8) % PAGES, va = slot_va(page, 0);
      if (mmu_space_mprotect(&P, va, 4096, MMU_PROT_READ) != MMU_OK ||
          mmu_space_mprotect(&P, va, 4096, RW) != MMU_OK)
        fail("mprotect", -1, (long)page);
      break;
    }
    default:
      break;
    }
    pthread_mutex_unlock(&lock);
    rounds++;
    sched_yield();
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (!atomic_load(&failed) &&
           (double)(now.tv_sec - start.tv_sec) +
                   (double)(now.tv_nsec - start.tv_nsec) / 1e9 <
               seconds);
  atomic_store(&stop, 1);
  for (int t = 0; t < THREADS; t++)
    pthread_join(V[t].thread, NULL);

  /* every slot holds its thread's last write */
  unsigned long reads = 0, writes = 0, faults = 0, lost = 0;
  for (int t = 0; t < THREADS; t++) {
    for (uint64_t p = 0; p < PAGES; p++) {
      uint64_t v;
      if (peek(&P, p, t, &v) != MMU_OK || v != V[t].expected[p]) {
        lost++;
        fail("final value", t, (long)p);
      }
    }
    reads += V[t].reads, writes += V[t].writes, faults += V[t].faults;
    lost += V[t].lost;
  }
  if (have_child)
    check_child_and_exit(0);
  printf("vcpu_threads: %d vCPU threads, %.1f s: %lu reads, %lu writes, "
         "%lu faults; main: %lu rounds, %lu pages reclaimed, %lu forks; "
         "pswpout %llu, pswpin %llu, kicks %lu; lost writes %lu, errors %d\n",
         THREADS, seconds, reads, writes, faults, rounds, reclaimed, forks,
         (unsigned long long)W.sys.vm.pswpout,
         (unsigned long long)W.sys.vm.pswpin, atomic_load(&kicks), lost,
         atomic_load(&failed));
  int bad = atomic_load(&failed) != 0 || lost || !reclaimed || !forks ||
            !W.sys.vm.pswpin || writes < 1000;
  if (bad && !atomic_load(&failed))
    fprintf(stderr, "vcpu_threads: the run did too little to tell\n");
  osw_space_free(&P);
  for (int t = 0; t < THREADS; t++)
    free(V[t].tlb);
  osw_free(&W);
  return bad ? 1 : 0;
}
