/* SPDX-License-Identifier: MIT */
/* qemu.c - the QEMU TCG capture source (capture_qemu, source.h): runs
 * conformance vectors in a guest of qemu-system-x86_64 -accel tcg -cpu max
 * (qguest/qharness.S) and records what QEMU did. What all sources share is
 * guest.c's, what the sources that boot qharness share (planning, the RAM
 * pattern, results, batches) is booted.c's; this file is QEMU's transport:
 * its processes, its boot, the shared memory and the doorbell. See qemu.h,
 * and qguest/qlayout.h for the guest-physical layout and the commands.
 *
 * Guest RAM is a file in /dev/shm mapped by QEMU (memory-backend-file,
 * share=on) and by the host, so the host builds the harness (GDT, IDTs,
 * TSSs, page tables, image) and the RAM pattern before QEMU starts, and
 * afterwards exchanges commands and results through memory. No firmware
 * runs: -bios is a 64 KiB ROM whose reset vector jumps into the harness. */
#define _GNU_SOURCE
#include "qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../include/mmu.h"
#include "../gen.h"
#include "booted.h"
#include "guest.h"
#include "nested_cap.h"
#include "qguest/qlayout.h"

extern const unsigned char qemu_guest_image[];
extern const unsigned char qemu_guest_image_end[];
extern const unsigned char qemu_guest_stubs32[];

#define MAX_INST 3             /* QEMU processes kept alive */
#define BOOT_TIMEOUT_MS 20000
#define STALL_MS 5000          /* no vector finished for this long: hung */
#define VERSION_TIMEOUT_MS 10000

typedef struct inst {
  booted_inst b;            /* first: booted.c sees this */
  pid_t pid;
  int out_fd;
  int ram_fd;
  int stopped;
  uint64_t seq;
  char ramfile[320];
  char errfile[320];
} inst;

struct qemu_cap_priv {
  booted b;                 /* first: the transport's callbacks get it */
  char qemu_path[PATH_MAX];
  char version[160];
  inst in[MAX_INST];
  uint64_t use_clock;
  uint32_t nested_maxphy; /* the nested batch being run */
};

#define set_err(p, ...) booted_set_err(&(p)->b, __VA_ARGS__)
#define now_ms booted_now_ms
#define now_s booted_now_s

/* ---- processes ------------------------------------------------------------ */

static int run_version(struct qemu_cap_priv *p) {
  char errpath[320];
  snprintf(errpath, sizeof errpath, "%.255s/version.err", p->b.tmpdir);
  char *argv[] = {p->qemu_path, (char *)"--version", NULL};
  int fd = -1;
  pid_t pid = booted_spawn(argv, NULL, &fd, errpath);
  if (pid < 0)
    return errno;
  char buf[512];
  ssize_t n = booted_read_timeout(fd, buf, sizeof buf, VERSION_TIMEOUT_MS);
  close(fd);
  if (n < 0)
    kill(pid, SIGKILL);
  int st;
  booted_reap(pid, &st);
  unlink(errpath);
  if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return EIO;
  buf[strcspn(buf, "\n")] = 0;
  snprintf(p->version, sizeof p->version, "%.150s", buf);
  return 0;
}

/* ---- the harness in guest RAM ------------------------------------------- */

static void inst_kill(struct qemu_cap_priv *p, inst *in) {
  (void)p;
  if (in->pid > 0) {
    kill(in->pid, SIGKILL);
    booted_reap(in->pid, NULL);
  }
  if (in->out_fd >= 0)
    close(in->out_fd);
  if (in->b.mem)
    munmap(in->b.mem, p->b.ram_size);
  if (in->ram_fd >= 0)
    close(in->ram_fd);
  if (in->ramfile[0])
    unlink(in->ramfile);
  if (in->errfile[0])
    unlink(in->errfile);
  free(in->b.pstate);
  memset(in, 0, sizeof *in);
  in->out_fd = in->ram_fd = -1;
}

/* Waits for one of the bytes in `want` on the doorbell; returns the byte,
 * or -ETIMEDOUT (no progress for STALL_MS, or past deadline), -EIO (QEMU
 * exited). progress: a counter in guest memory that proves liveness. */
static int wait_byte(struct qemu_cap_priv *p, inst *in, const char *want,
                     int64_t stall_ms, int64_t hard_ms) {
  int64_t start = now_ms(), last = start;
  uint64_t heart = cap_rd64(in->b.mem, H_RT + R_HEART);
  for (;;) {
    struct pollfd pf = {in->out_fd, POLLIN, 0};
    int r = poll(&pf, 1, 100);
    if (r < 0 && errno != EINTR) {
      set_err(p, "poll: %s", strerror(errno));
      return -EIO;
    }
    if (r > 0) {
      char buf[256];
      ssize_t k = read(in->out_fd, buf, sizeof buf);
      if (k < 0 && errno != EINTR && errno != EAGAIN) {
        set_err(p, "read from QEMU: %s", strerror(errno));
        return -EIO;
      }
      if (k == 0) {
        int st;
        booted_reap(in->pid, &st);
        in->pid = 0;
        char tail[200];
        booted_first_line(in->errfile, tail, sizeof tail);
        set_err(p, "QEMU exited (%s %d)%s%s",
                WIFSIGNALED(st) ? "signal" : "status",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                tail[0] ? ": " : "", tail);
        return -EIO;
      }
      for (ssize_t i = 0; i < k; i++)
        if (strchr(want, buf[i]) && buf[i])
          return (unsigned char)buf[i];
    }
    int64_t t = now_ms();
    uint64_t h = cap_rd64(in->b.mem, H_RT + R_HEART);
    if (h != heart) {
      heart = h;
      last = t;
    }
    if (t - last > stall_ms || t - start > hard_ms) {
      set_err(p, "timeout: guest stuck in vector %llu",
              (unsigned long long)cap_rd64(in->b.mem, H_RT + R_CUR));
      return -ETIMEDOUT;
    }
  }
}

static int inst_start(struct qemu_cap_priv *p, inst *in, uint32_t maxphy,
                      int no1g) {
  double t0 = now_s();
  memset(in, 0, sizeof *in);
  in->out_fd = in->ram_fd = -1;
  in->b.maxphy = maxphy;
  in->b.no1g = no1g;
  static unsigned serial;
  serial++;
  snprintf(in->ramfile, sizeof in->ramfile, "%.255s/ram-%u", p->b.tmpdir, serial);
  snprintf(in->errfile, sizeof in->errfile, "%.255s/qemu-%u.err", p->b.tmpdir,
           serial);
  in->ram_fd = open(in->ramfile, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (in->ram_fd < 0) {
    set_err(p, "create %s: %s", in->ramfile, strerror(errno));
    in->ramfile[0] = 0;
    goto fail;
  }
  if (ftruncate(in->ram_fd, (off_t)p->b.ram_size) < 0) {
    set_err(p, "ftruncate guest RAM: %s", strerror(errno));
    goto fail;
  }
  in->b.mem = mmap(NULL, p->b.ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                 in->ram_fd, 0);
  if (in->b.mem == MAP_FAILED) {
    in->b.mem = NULL;
    set_err(p, "mmap guest RAM: %s", strerror(errno));
    goto fail;
  }
  in->b.pstate = calloc(p->b.ram_size >> 12, 1);
  if (!in->b.pstate) {
    set_err(p, "out of memory");
    goto fail;
  }
  booted_build_harness(&p->b, in->b.mem);
  for (uint64_t a = H_END; a < p->b.ram_size; a += 8)
    cap_wr64(in->b.mem, a, booted_pattern_of(a));

  char cpu[64], mem[128], ram[32], bk[512];
  snprintf(cpu, sizeof cpu, "max,phys-bits=%u%s", maxphy,
           no1g ? ",pdpe1gb=off" : "");
  snprintf(ram, sizeof ram, "%lluM",
           (unsigned long long)(p->b.ram_size >> 20));
  snprintf(bk, sizeof bk,
           "memory-backend-file,id=qcapram,size=%llu,mem-path=%s,share=on",
           (unsigned long long)p->b.ram_size, in->ramfile);
  snprintf(mem, sizeof mem, "pc,accel=tcg,memory-backend=qcapram");
  char *argv[] = {p->qemu_path,
                  (char *)"-nodefaults",
                  (char *)"-no-user-config",
                  (char *)"-display",
                  (char *)"none",
                  (char *)"-machine",
                  mem,
                  (char *)"-cpu",
                  cpu,
                  (char *)"-m",
                  ram,
                  (char *)"-object",
                  bk,
                  (char *)"-bios",
                  p->b.rompath,
                  (char *)"-chardev",
                  (char *)"stdio,id=qcapdbg,signal=off",
                  (char *)"-device",
                  (char *)"isa-debugcon,iobase=0xe9,chardev=qcapdbg",
                  (char *)"-no-reboot",
                  NULL};
  in->pid = booted_spawn(argv, NULL, &in->out_fd, in->errfile);
  if (in->pid < 0) {
    in->pid = 0;
    set_err(p, "cannot run %s: %s", p->qemu_path, strerror(errno));
    goto fail;
  }
  p->b.st.boots++;
  int r = wait_byte(p, in, "R", BOOT_TIMEOUT_MS, BOOT_TIMEOUT_MS);
  if (r != 'R' || cap_rd64(in->b.mem, H_MBOX + MB_READY) != 1) {
    if (r >= 0)
      set_err(p, "guest did not boot (doorbell %d)", r);
    char tail[200];
    booted_first_line(in->errfile, tail, sizeof tail);
    if (tail[0]) {
      size_t l = strlen(p->b.err);
      snprintf(p->b.err + l, sizeof p->b.err - l, " [%s]", tail);
    }
    goto fail;
  }
  /* QEMU has the file mapped: the name is no longer needed */
  unlink(in->ramfile);
  in->ramfile[0] = 0;
  if (!p->b.have_cpuid)
    booted_read_cpuid(&p->b, in->b.mem);
  if (getenv("QEMU_CAP_DEBUG")) {
    uint32_t x1d, x8a;
    memcpy(&x1d, in->b.mem + H_MBOX + MB_CPUID + 16 * 4 + 12, 4);
    memcpy(&x8a, in->b.mem + H_MBOX + MB_CPUID + 16 * 8, 4);
    fprintf(stderr, "qemu_cap: booted pid %d (-cpu %s): CPUID pdpe1gb=%u "
            "maxphyaddr=%u\n", (int)in->pid, cpu, x1d >> 26 & 1, x8a & 0xff);
  }
  in->b.live = 1;
  in->b.la57 = 0;
  p->b.st.boot_seconds += now_s() - t0;
  return 0;
fail:
  inst_kill(p, in);
  p->b.st.boot_seconds += now_s() - t0;
  return -EIO;
}

static inst *get_inst(struct qemu_cap_priv *p, uint32_t maxphy, int no1g) {
  inst *lru = NULL;
  for (int i = 0; i < MAX_INST; i++) {
    inst *in = &p->in[i];
    if (in->b.live && in->b.maxphy == maxphy && in->b.no1g == no1g) {
      in->b.last_use = ++p->use_clock;
      return in;
    }
  }
  for (int i = 0; i < MAX_INST; i++) {
    inst *in = &p->in[i];
    if (!in->b.live) {
      lru = in;
      break;
    }
    if (!lru || in->b.last_use < lru->b.last_use)
      lru = in;
  }
  if (lru->b.live)
    inst_kill(p, lru);
  if (inst_start(p, lru, maxphy, no1g) < 0)
    return NULL;
  lru->b.last_use = ++p->use_clock;
  return lru;
}

/* ---- the transport (booted_ops) ------------------------------------------ */

static booted_inst *qemu_get(booted *b, uint32_t maxphy, int no1g) {
  inst *in = get_inst((struct qemu_cap_priv *)b, maxphy, no1g);
  return in ? &in->b : NULL;
}

static void qemu_kill(booted *b, booted_inst *in) {
  inst_kill((struct qemu_cap_priv *)b, (inst *)in);
}

/* The guest takes the command list from shared memory once MB_SEQ moves,
 * and rings 'D' (with MB_DONE = MB_SEQ) or 'P' (panic). */
static int qemu_exec(booted *b, booted_inst *bi) {
  struct qemu_cap_priv *p = (struct qemu_cap_priv *)b;
  inst *in = (inst *)bi;
  in->seq++;
  __atomic_store_n((uint64_t *)(void *)(in->b.mem + H_MBOX + MB_SEQ), in->seq,
                   __ATOMIC_RELEASE);
  if (in->stopped) {
    if (kill(in->pid, SIGCONT) < 0) {
      set_err(p, "SIGCONT: %s", strerror(errno));
      return -EIO;
    }
    in->stopped = 0;
  }
  int r = wait_byte(p, in, "DP", STALL_MS, 600000);
  if (r == 'D' && __atomic_load_n((uint64_t *)(void *)(in->b.mem + H_MBOX + MB_DONE),
                                  __ATOMIC_ACQUIRE) == in->seq)
    return 0;
  if (r == 'P')
    return 1;
  if (r >= 0) {
    set_err(p, "doorbell %d without completion", r);
    return -EPROTO;
  }
  return r;
}

/* Between batches QEMU sleeps (SIGSTOP): an idle TCG guest still spins. */
static void qemu_idle(booted *b) {
  struct qemu_cap_priv *p = (struct qemu_cap_priv *)b;
  for (int i = 0; i < MAX_INST; i++)
    if (p->in[i].b.live && !p->in[i].stopped && kill(p->in[i].pid, SIGSTOP) == 0)
      p->in[i].stopped = 1;
}

static int qemu_refuse_step(booted *b, const vec_vector *v,
                            const capture_vmem *m, uint32_t s, size_t vi) {
  const vec_step *st = &v->step[s];
  if (st->op == VEC_SET_PTE && capture_vector_mode(v) == CAPTURE_MODE_PAE &&
      m->ntop && cap_contains(m->top, m->ntop, st->a & ~31ull)) {
    /* TCG reads PDPTEs from memory on every walk and checks none at MOV
     * to CR3: it has no PDPTE registers (SDM 4.4.1) to show */
    capture_reason(&b->reasons, vi, "step %u: rewrites a PDPTE, and QEMU "
                   "TCG has no PDPTE registers", s);
    return -ENOTSUP;
  }
  return 0;
}

static const booted_ops qemu_ops = {
    .name = "QEMU",
    .amd = "QEMU TCG checks Intel's reserved bits",
    .vflags = MMU_CFG_AD_ON_FAULT_UPPER,
    .refuse_step = qemu_refuse_step,
    .get = qemu_get,
    .kill = qemu_kill,
    .exec = qemu_exec,
    .idle = qemu_idle,
};

static int qemu_exec_commands(void *s, const uint64_t *cmd, size_t nquads,
                              uint64_t reslen, uint8_t *res) {
  struct qemu_cap_priv *p = ((capture_source *)s)->priv;
  uint64_t panic[4];
  return qemu_cap_run_commands(s, p->nested_maxphy, cmd, nquads, reslen, res,
                               panic);
}

/* Vectors under nested paging go through SVM (nested_cap.c), the others
 * through the step harness; a batch holds one kind. */
static int qemu_run(capture_source *s, vec_vector *v, size_t n, int *status) {
  struct qemu_cap_priv *p = s->priv;
  if (!p)
    return -EINVAL;
  int kind = nested_cap_kind(v, n, status, &p->b.reasons);
  if (kind == MMU_NESTED_OFF)
    return booted_run(&p->b, v, n, status);
  if (kind < 0)
    return 0;
  if (kind != MMU_NESTED_NPT) { /* C_VMX is Bochs's harness's only */
    for (size_t i = 0; i < n; i++) {
      status[i] = -ENOTSUP;
      capture_reason(&p->b.reasons, i, "QEMU's TCG has no VMX");
    }
    return 0;
  }
  p->nested_maxphy = v[0].maxphyaddr ? v[0].maxphyaddr : 52;
  return nested_cap_run(qemu_exec_commands, s, p->nested_maxphy, (uint32_t)kind,
                        v, n, status, &p->b.reasons);
}

/* ---- open / describe / close ---------------------------------------------- */

static int qemu_open(capture_source *s, uint64_t ram_size) {
  s->priv = NULL;
  if (ram_size < (4ull << 20) || ram_size > (3ull << 30) ||
      (ram_size & ((2ull << 20) - 1)))
    return EINVAL;
  struct qemu_cap_priv *p = calloc(1, sizeof *p);
  if (!p)
    return ENOMEM;
  for (int i = 0; i < MAX_INST; i++)
    p->in[i].out_fd = p->in[i].ram_fd = -1;
  p->b.ram_size = ram_size;
  int e = booted_find_exe("QEMU_SYSTEM_X86_64", "qemu-system-x86_64", p->qemu_path,
                          sizeof p->qemu_path);
  if (e) {
    free(p);
    return e;
  }
  if ((e = booted_open(&p->b, "qemu", qemu_guest_image, qemu_guest_image_end))) {
    free(p);
    return e;
  }
  p->b.img.off_stubs32 = (uint64_t)(qemu_guest_stubs32 - qemu_guest_image);
  s->priv = p; /* from here on qemu_close cleans up */
  if ((e = booted_write_rom(&p->b)) != 0)
    goto fail;
  if ((e = run_version(p)) != 0) {
    set_err(p, "%s --version failed", p->qemu_path);
    goto fail;
  }
  if ((e = booted_init(&p->b, &qemu_ops, &capture_qemu, ram_size)) != 0)
    goto fail;
  /* boot once (MAXPHYADDR 52, 1 GiB pages) for the CPUID */
  if (!get_inst(p, 52, 0)) {
    e = EIO;
    goto fail;
  }
  char cpu[768];
  booted_describe_cpu(&p->b, cpu, sizeof cpu);
  snprintf(p->b.desc, sizeof p->b.desc,
           "qemu: %s (%.200s); -accel tcg -cpu max,phys-bits=<vector "
           "maxphyaddr>[,pdpe1gb=off] -M pc, no firmware; %.700s (booted with 52); "
           "ram %llu MiB", p->version, p->qemu_path, cpu,
           (unsigned long long)(ram_size >> 20));
  for (int i = 0; i < MAX_INST; i++)
    if (p->in[i].b.live && kill(p->in[i].pid, SIGSTOP) == 0)
      p->in[i].stopped = 1;
  /* TCG sets A in the upper levels of a walk that faults, and checks
   * reserved bits as Intel does (its -cpu max says AuthenticAMD anyway) */
  s->cpu_flags = MMU_CFG_AD_ON_FAULT_UPPER;
  return 0;
fail:
  /* keep s->priv so that qemu_why says why; close frees it */
  return e ? e : EIO;
}

static void qemu_describe(const capture_source *s, char *buf, size_t n) {
  const struct qemu_cap_priv *p = s->priv;
  snprintf(buf, n, "%s", p ? p->b.desc : "qemu: not open");
}

/* Vector i's reason; before any run (a failed open), the last error. */
static const char *qemu_why(const capture_source *s, size_t i) {
  const struct qemu_cap_priv *p = s->priv;
  return p ? booted_why(&p->b, i) : "";
}

const char *qemu_cap_last_error(const capture_source *s) {
  const struct qemu_cap_priv *p = s->priv;
  return p ? p->b.err : "qemu: not open";
}

void qemu_cap_get_stats(const capture_source *s, qemu_cap_stats *out) {
  const struct qemu_cap_priv *p = s->priv;
  memset(out, 0, sizeof *out);
  if (p)
    *out = p->b.st;
}

int qemu_cap_run_commands(capture_source *s, uint32_t maxphy,
                          const uint64_t *cmd, size_t nquads, uint64_t reslen,
                          uint8_t *res, uint64_t panic[4]) {
  struct qemu_cap_priv *p = s->priv;
  if (!p)
    return -EINVAL;
  inst *in = get_inst(p, maxphy, 0);
  if (!in)
    return -EIO;
  int r = booted_stage_commands(in->b.mem, cmd, nquads, reslen);
  if (r == 0)
    r = qemu_exec(&p->b, &in->b);
  if (r >= 0)
    booted_take_results(in->b.mem, reslen, res, panic);
  inst_kill(p, in);
  return r;
}

static void qemu_close(capture_source *s) {
  struct qemu_cap_priv *p = s->priv;
  if (!p)
    return;
  for (int i = 0; i < MAX_INST; i++)
    if (p->in[i].b.live || p->in[i].pid > 0 || p->in[i].b.mem)
      inst_kill(p, &p->in[i]);
  booted_close(&p->b);
  free(p);
  s->priv = NULL;
}

/* Re-running detectors first: they compare the source's re-run with the
 * source's own outcomes, before any rewrite (rsvd-without-p) changes them. */
static const capture_departure *const qemu_departures[] = {
    &capture_smap_implicit_ac, &capture_pdpte_low_rsvd, &capture_rsvd_without_p,
    &capture_a_on_faulting_leaf, &capture_pdpte_a, &capture_pse36_rsvd, NULL};

capture_source capture_qemu = {
    .name = "qemu",
    .needs = "qemu-system-x86_64",
    .caps = GEN_CAP_1G | GEN_CAP_PKU | GEN_CAP_LA57 | GEN_CAP_SMAP |
            GEN_CAP_IMPLICIT | GEN_CAP_MAXPHY | GEN_CAP_NOPAGING |
            GEN_CAP_PAGING32 | GEN_CAP_PAE | GEN_CAP_NPT,
    .modes = CAPTURE_MODES_LONG | CAPTURE_MODE_BIT(CAPTURE_MODE_OFF) |
             CAPTURE_MODE_BIT(CAPTURE_MODE_32) | CAPTURE_MODE_BIT(CAPTURE_MODE_PAE),
    .departures = qemu_departures,
    .open = qemu_open,
    .describe = qemu_describe,
    .run = qemu_run,
    .why = qemu_why,
    .close = qemu_close,
};
