/* SPDX-License-Identifier: MIT */
/* bochs.c - the Bochs capture source (capture_bochs, source.h): runs
 * conformance vectors in a guest of the Bochs emulator (cpu: model=
 * tigerlake: PCID, INVPCID, LA57, PKU, SMEP/SMAP, 1 GiB pages) and records
 * what Bochs did. The guest is the QEMU harness (bguest/bharness.S over
 * qguest/qharness.S) and planning, the RAM pattern and batches are
 * booted.c's; this file is Bochs's transport, since Bochs shares no memory
 * with the host:
 *
 * One Bochs process per command list ("chunk"). The host builds guest RAM
 * [0, H_END) (harness, commands) and Bochs loads it as an optramimage; RAM
 * above H_END starts zeroed (every page the plan treats as a table page),
 * and the plan's C_FILL commands write the pattern where it is needed. No
 * firmware runs: the romimage is a 64 KiB ROM whose reset vector jumps to
 * H_CODE. At the end of the list (or on a panic) the guest writes its
 * mailbox, run-time state and results out through port 0xE9 (port_e9_hack)
 * and asks Bochs to quit through its shutdown port.
 *
 * Bochs 2.7 hands out RAM in 128 KiB blocks in the order they are first
 * touched, and loads a RAM image contiguously from its first block: the
 * image file is laid out in the order the blocks get touched (the load
 * touches block 0, then its debugger's xp commands touch the others before
 * the guest starts; [0xA0000, 0x100000) is not RAM to it and is left out).
 *
 * Bochs's MAXPHYADDR is fixed (40 in 2.7): vectors with another are
 * refused, as are those that need 1 GiB pages off. Every recorded outcome
 * comes from Bochs. */
#define _GNU_SOURCE
#include "bochs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "bguest/blayout.h"

extern const unsigned char bochs_guest_image[];
extern const unsigned char bochs_guest_image_end[];
extern const unsigned char bochs_guest_stubs32[];

#define CHUNK_MS_BASE 30000    /* a chunk's time limit: base + per vector */
#define CHUNK_MS_PER_VEC 300
#define VERSION_TIMEOUT_MS 10000
#define BX_BLOCK 0x20000       /* Bochs 2.7's RAM block */
#define BX_HOLE_LO 0xa0000     /* not RAM to Bochs: VGA window, ROMs */
#define BX_HOLE_HI 0x100000
#define BOCHS_MAXPHY 40        /* BX_PHY_ADDRESS_WIDTH of Debian's build */

typedef booted_inst inst; /* the host's copy of guest RAM [0, H_END) */

struct bochs_cap_priv {
  booted b;                 /* first: the transport's callbacks get it */
  char bochs_path[PATH_MAX];
  char version[160];
  char model[32];
  char rampath[320], rcpath[320], cmdpath[320], errpath[320];
  inst in[1];               /* one Bochs per chunk: state is per chunk */
};

#define set_err(p, ...) booted_set_err(&(p)->b, __VA_ARGS__)
#define now_ms booted_now_ms
#define now_s booted_now_s


/* ---- processes ------------------------------------------------------------ */


/* ---- processes ------------------------------------------------------------ */

/* "Bochs x86 Emulator 2.7" from its banner (bochs --help prints it). */
static int run_version(struct bochs_cap_priv *p) {
  char *argv[] = {p->bochs_path, (char *)"--help", NULL};
  int fd = -1;
  if (booted_write_file(p->cmdpath, "", 0))
    return EIO;
  pid_t pid = booted_spawn(argv, p->cmdpath, &fd, p->errpath);
  if (pid < 0)
    return errno;
  char buf[2048];
  ssize_t n = booted_read_timeout(fd, buf, sizeof buf, VERSION_TIMEOUT_MS);
  close(fd);
  kill(pid, SIGKILL);
  booted_reap(pid, NULL);
  const char *b = n > 0 ? strstr(buf, "Bochs x86 Emulator") : NULL;
  if (!b) {
    int efd = open(p->errpath, O_RDONLY | O_CLOEXEC);
    n = efd >= 0 ? read(efd, buf, sizeof buf - 1) : -1;
    if (efd >= 0)
      close(efd);
    buf[n > 0 ? n : 0] = 0;
    b = strstr(buf, "Bochs x86 Emulator");
  }
  if (!b)
    return EIO;
  size_t l = strcspn(b, "\n");
  snprintf(p->version, sizeof p->version, "%.*s", (int)(l < 150 ? l : 150), b);
  return 0;
}

/* ---- the harness in guest RAM ------------------------------------------- */

static void inst_kill(struct bochs_cap_priv *p, inst *in) {
  (void)p;
  free(in->mem);
  free(in->pstate);
  memset(in, 0, sizeof *in);
}

/* A fresh guest: harness built, RAM above H_END zero (no Bochs yet: it
 * starts in run_chunk). */
static int inst_start(struct bochs_cap_priv *p, inst *in, uint32_t maxphy,
                      int no1g) {
  memset(in, 0, sizeof *in);
  in->maxphy = maxphy;
  in->no1g = no1g;
  in->mem = calloc(1, H_END);
  in->pstate = malloc(p->b.ram_size >> 12);
  if (!in->mem || !in->pstate) {
    set_err(p, "out of memory");
    inst_kill(p, in);
    return -ENOMEM;
  }
  memset(in->pstate, BOOTED_PG_TABLE, p->b.ram_size >> 12);
  booted_build_harness(&p->b, in->mem);
  in->live = 1;
  return 0;
}

static inst *get_inst(struct bochs_cap_priv *p, uint32_t maxphy, int no1g) {
  inst *in = &p->in[0];
  if (in->live && in->maxphy == maxphy && in->no1g == no1g)
    return in;
  if (in->live)
    inst_kill(p, in);
  return inst_start(p, in, maxphy, no1g) < 0 ? NULL : in;
}

/* Why Bochs stopped, from its log: the line after "exiting with the
 * following message", else the first panic or error line ("...p[CPU0 ]"
 * or "...e[...]"), else the last line. */
static void bochs_log_reason(const char *path, char *buf, size_t n) {
  static char log[65536];
  buf[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  size_t len = fread(log, 1, sizeof log - 1, f);
  fclose(f);
  log[len] = 0;
  const char *exit_msg = NULL, *error = NULL, *last = NULL;
  int after_banner = 0;
  for (char *line = log; *line && !exit_msg;) {
    char *end = strchr(line, '\n');
    if (end)
      *end = 0;
    const char *br = strchr(line, '[');
    if (after_banner && *line)
      exit_msg = line;
    after_banner |= strstr(line, "exiting with the following message") != NULL;
    if (!error && br && br > line && (br[-1] == 'p' || br[-1] == 'e'))
      error = line;
    if (*line && line[0] != '=')
      last = line;
    line = end ? end + 1 : line + strlen(line);
  }
  snprintf(buf, n, "%s", exit_msg ? exit_msg : error ? error : last ? last : "");
}

/* Runs Bochs on in->mem (harness and commands in place) until the guest
 * sent its dump; copies the dump back into in->mem. 0, -ETIMEDOUT, -EIO
 * (Bochs exited without a dump), -EPROTO. */
static int bochs_exec(struct bochs_cap_priv *p, inst *in, uint64_t dumplen,
                      int64_t limit_ms) {
  cap_wr64(in->mem, H_MBOX + MB_DUMPLEN, dumplen);
  /* the image in Bochs's block order: [0, hole) then [hole end, H_END) */
  int fd = open(p->rampath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    set_err(p, "create %s: %s", p->rampath, strerror(errno));
    return -EIO;
  }
  int bad = write(fd, in->mem, BX_HOLE_LO) != BX_HOLE_LO ||
            write(fd, in->mem + BX_HOLE_HI, H_END - BX_HOLE_HI) !=
                H_END - BX_HOLE_HI;
  if (close(fd) < 0 || bad) {
    set_err(p, "write %s failed", p->rampath);
    return -EIO;
  }
  double t0 = now_s();
  char *argv[] = {p->bochs_path, (char *)"-q", (char *)"-f", p->rcpath, NULL};
  int out = -1;
  pid_t pid = booted_spawn(argv, p->cmdpath, &out, p->errpath);
  if (pid < 0) {
    set_err(p, "cannot run %s: %s", p->bochs_path, strerror(errno));
    return -EIO;
  }
  p->b.st.boots++;
  static const char magic[8] = "MMUDUMP!";
  size_t need = 8 + BX_DUMP_MBOX + BX_DUMP_RT + dumplen;
  size_t cap = need + 65536, got = 0;
  char *buf = malloc(cap);
  int r = -EIO;
  size_t at = SIZE_MAX; /* the magic's offset */
  int64_t end = now_ms() + limit_ms;
  while (buf) {
    int left = (int)(end - now_ms());
    if (left <= 0) {
      set_err(p, "timeout: Bochs ran past %lld ms", (long long)limit_ms);
      r = -ETIMEDOUT;
      break;
    }
    struct pollfd pf = {out, POLLIN, 0};
    int k = poll(&pf, 1, left);
    if (k < 0 && errno != EINTR)
      break;
    if (k <= 0)
      continue;
    if (got == cap) { /* debugger chatter before the dump: keep the tail */
      memmove(buf, buf + cap / 2, cap - cap / 2);
      got = cap - cap / 2;
    }
    ssize_t n = read(out, buf + got, cap - got);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0) {
      char tail[200];
      bochs_log_reason(p->errpath, tail, sizeof tail);
      set_err(p, "Bochs exited without the guest's results%s%s",
              tail[0] ? ": " : "", tail);
      break;
    }
    got += (size_t)n;
    if (at == SIZE_MAX) {
      for (size_t i = 0; i + 8 <= got; i++)
        if (!memcmp(buf + i, magic, 8)) {
          at = i;
          break;
        }
      if (at != SIZE_MAX) { /* from here on the buffer holds the dump */
        memmove(buf, buf + at, got - at);
        got -= at;
        at = 0;
        if (cap < need) {
          set_err(p, "dump larger than planned");
          r = -EPROTO;
          break;
        }
      }
    }
    if (at == 0 && got >= need) {
      memcpy(in->mem + H_MBOX, buf + 8, BX_DUMP_MBOX);
      memcpy(in->mem + H_RT, buf + 8 + BX_DUMP_MBOX, BX_DUMP_RT);
      memcpy(in->mem + H_RES, buf + 8 + BX_DUMP_MBOX + BX_DUMP_RT, dumplen);
      r = 0;
      break;
    }
  }
  free(buf);
  close(out);
  kill(pid, SIGKILL);
  booted_reap(pid, NULL);
  p->b.st.boot_seconds += now_s() - t0;
  return r;
}

/* ---- the transport (booted_ops) ------------------------------------------ */

static booted_inst *bochs_get(booted *b, uint32_t maxphy, int no1g) {
  return get_inst((struct bochs_cap_priv *)b, maxphy, no1g);
}

static void bochs_kill(booted *b, booted_inst *in) {
  inst_kill((struct bochs_cap_priv *)b, in);
}

/* A new Bochs on the chunk's RAM image; MB_DONE = 1 once the list ran. */
static int bochs_chunk(booted *b, booted_inst *in) {
  cap_wr64(in->mem, H_MBOX + MB_SEQ, 1);
  cap_wr64(in->mem, H_MBOX + MB_DONE, 0);
  int r = bochs_exec((struct bochs_cap_priv *)b, in, b->resoff,
                     CHUNK_MS_BASE + (int64_t)b->npd * CHUNK_MS_PER_VEC);
  if (r < 0)
    return r;
  return cap_rd64(in->mem, H_MBOX + MB_DONE) == 1 ? 0 : 1;
}

static int bochs_refuse_run(booted *b, const vec_vector *v, size_t vi) {
  uint32_t mp = v->maxphyaddr ? v->maxphyaddr : 52;
  if (mp != b->cpu.maxphyaddr) {
    capture_reason(&b->reasons, vi, "maxphyaddr %u: Bochs's is %u", mp,
                   b->cpu.maxphyaddr);
    return -ENOTSUP;
  }
  if ((v->flags & MMU_CFG_NO_1G_PAGES) && b->cpu.pdpe1gb) {
    capture_reason(&b->reasons, vi, "1 GiB pages off: the model has them");
    return -ENOTSUP;
  }
  return 0;
}

static const booted_ops bochs_ops = {
    .name = "Bochs",
    .amd = "Bochs's tigerlake checks Intel's reserved bits",
    .gp_outcomes = 1,
    .fresh_chunks = 1, /* the next chunk is a new Bochs on fresh RAM */
    .refuse_run = bochs_refuse_run,
    .get = bochs_get,
    .kill = bochs_kill,
    .exec = bochs_chunk,
};

static int write_config(struct bochs_cap_priv *p);

static int bochs_exec_commands(void *s, const uint64_t *cmd, size_t nquads,
                               uint64_t reslen, uint8_t *res) {
  uint64_t panic[4];
  return bochs_cap_run_commands(s, cmd, nquads, reslen, res, panic);
}

/* Vectors under EPT go through VMX, under nested paging through SVM
 * (nested_cap.c) on an AMD model (BOCHS_SVM_MODEL, else ryzen), the others
 * through the step harness; a batch holds one kind. */
static int bochs_run(capture_source *s, vec_vector *v, size_t n, int *status) {
  struct bochs_cap_priv *p = s->priv;
  if (!p)
    return -EINVAL;
  int kind = nested_cap_kind(v, n, status, &p->b.reasons);
  if (kind == MMU_NESTED_OFF)
    return booted_run(&p->b, v, n, status);
  if (kind < 0)
    return 0;
  char model[sizeof p->model];
  memcpy(model, p->model, sizeof model);
  const char *amd = getenv("BOCHS_SVM_MODEL");
  if (kind == MMU_NESTED_NPT) {
    snprintf(p->model, sizeof p->model, "%.31s", amd && *amd ? amd : "ryzen");
    if (write_config(p) != 0)
      kind = -1;
  }
  int r = kind < 0 ? -EIO
                   : nested_cap_run(bochs_exec_commands, s, p->b.cpu.maxphyaddr,
                                    (uint32_t)kind, v, n, status, &p->b.reasons);
  if (strcmp(model, p->model) != 0) {
    memcpy(p->model, model, sizeof model);
    if (write_config(p) != 0)
      r = -EIO;
  }
  return r;
}

/* ---- open / describe / close ---------------------------------------------- */

static int write_config(struct bochs_cap_priv *p) {
  char rc[2048];
  int n = snprintf(rc, sizeof rc,
                   "megs: %llu\n"
                   "romimage: file=%s\n"
                   "optramimage1: file=%s, address=0\n"
                   "display_library: rfb, options=\"timeout=0\"\n"
                   "port_e9_hack: enabled=1\n"
                   "cpu: model=%s, reset_on_triple_fault=0\n"
                   "log: /dev/null\n"
                   "panic: action=fatal\nerror: action=report\n"
                   "info: action=ignore\ndebug: action=ignore\n"
                   "speaker: enabled=0\n"
                   "sound: waveoutdrv=dummy, waveindrv=dummy, "
                   "midioutdrv=dummy\n"
                   "clock: sync=none\n",
                   (unsigned long long)(p->b.ram_size >> 20), p->b.rompath,
                   p->rampath, p->model);
  if (n <= 0 || (size_t)n >= sizeof rc)
    return EINVAL;
  int e = booted_write_file(p->rcpath, rc, (size_t)n);
  if (e)
    return e;
  /* debugger input: touch RAM blocks in image order, run, quit */
  char cmds[4096];
  size_t l = 0;
  for (uint64_t a = BX_BLOCK; a < H_END; a += BX_BLOCK)
    if (a < BX_HOLE_LO || a >= BX_HOLE_HI)
      l += (size_t)snprintf(cmds + l, sizeof cmds - l, "xp /1bx %#llx\n",
                            (unsigned long long)a);
  l += (size_t)snprintf(cmds + l, sizeof cmds - l, "c\nquit\n");
  return booted_write_file(p->cmdpath, cmds, l);
}

_Static_assert(MB_VMX + 8 * MBV_N <= BX_DUMP_MBOX,
               "the VMX MSRs are not sent out");

static int bochs_open(capture_source *s, uint64_t ram_size) {
  s->priv = NULL;
  if (ram_size < (4ull << 20) || ram_size > (2048ull << 20) ||
      (ram_size & ((2ull << 20) - 1)))
    return EINVAL;
  struct bochs_cap_priv *p = calloc(1, sizeof *p);
  if (!p)
    return ENOMEM;
  p->b.ram_size = ram_size;
  const char *model = getenv("BOCHS_CPU_MODEL");
  snprintf(p->model, sizeof p->model, "%.31s",
           model && *model ? model : "tigerlake");
  int e = booted_find_exe("BOCHS", "bochs", p->bochs_path, sizeof p->bochs_path);
  if (e) {
    free(p);
    return e;
  }
  if ((e = booted_open(&p->b, "bochs", bochs_guest_image, bochs_guest_image_end))) {
    free(p);
    return e;
  }
  p->b.img.off_stubs32 = (uint64_t)(bochs_guest_stubs32 - bochs_guest_image);
  s->priv = p; /* from here on bochs_close cleans up */
  snprintf(p->rampath, sizeof p->rampath, "%.255s/ram.img", p->b.tmpdir);
  snprintf(p->rcpath, sizeof p->rcpath, "%.255s/bochsrc", p->b.tmpdir);
  snprintf(p->cmdpath, sizeof p->cmdpath, "%.255s/debugger.in", p->b.tmpdir);
  snprintf(p->errpath, sizeof p->errpath, "%.255s/bochs.err", p->b.tmpdir);
  if ((e = booted_write_rom(&p->b)) != 0)
    goto fail;
  if ((e = run_version(p)) != 0) {
    set_err(p, "%s --help printed no version", p->bochs_path);
    goto fail;
  }
  if ((e = write_config(p)) != 0) {
    set_err(p, "write %s: %s", p->rcpath, strerror(e));
    goto fail;
  }
  if ((e = booted_init(&p->b, &bochs_ops, &capture_bochs, ram_size)) != 0)
    goto fail;
  /* boot once with an empty command list for the CPUID */
  inst *in = get_inst(p, BOCHS_MAXPHY, 0);
  if (!in) {
    e = ENOMEM;
    goto fail;
  }
  cap_wr64(in->mem, H_CMD, C_END);
  cap_wr64(in->mem, H_MBOX + MB_SEQ, 1);
  if (bochs_exec(p, in, 0, CHUNK_MS_BASE) < 0 ||
      cap_rd64(in->mem, H_MBOX + MB_READY) != 1) {
    e = EIO;
    goto fail;
  }
  booted_read_cpuid(&p->b, in->mem);
  inst_kill(p, in);
  char cpu[768];
  booted_describe_cpu(&p->b, cpu, sizeof cpu);
  const char *amd = getenv("BOCHS_SVM_MODEL");
  snprintf(p->b.desc, sizeof p->b.desc,
           "bochs: %s (%.200s); cpu: model=%s, no firmware; %.700s; ram %llu MiB; "
           "vectors under nested paging: model=%.31s",
           p->version, p->bochs_path, p->model, cpu,
           (unsigned long long)(ram_size >> 20), amd && *amd ? amd : "ryzen");
  s->cpu_flags = 0;
  return 0;
fail:
  /* keep s->priv so that bochs_why says why; close frees it */
  return e ? e : EIO;
}

static void bochs_describe(const capture_source *s, char *buf, size_t n) {
  const struct bochs_cap_priv *p = s->priv;
  snprintf(buf, n, "%s", p ? p->b.desc : "bochs: not open");
}

/* Vector i's reason; before any run (a failed open), the last error. */
static const char *bochs_why(const capture_source *s, size_t i) {
  const struct bochs_cap_priv *p = s->priv;
  return p ? booted_why(&p->b, i) : "";
}

const char *bochs_cap_last_error(const capture_source *s) {
  const struct bochs_cap_priv *p = s->priv;
  return p ? p->b.err : "bochs: not open";
}

void bochs_cap_get_stats(const capture_source *s, bochs_cap_stats *out) {
  const struct bochs_cap_priv *p = s->priv;
  memset(out, 0, sizeof *out);
  if (p)
    *out = p->b.st;
}

/* Runs a raw command list (quads, ending in C_END) on a fresh Bochs and
 * copies back [H_RES, +reslen) and the mailbox's panic record (vector,
 * code, CR2, RIP; vector 0 and all zero when none). 0 when the list ran
 * to its end, 1 when the guest panicked, < 0 on error (last_error). For
 * probes such as C_VMX (bguest/vmx.inc). */
int bochs_cap_run_commands(capture_source *s, const uint64_t *cmd,
                           size_t nquads, uint64_t reslen, uint8_t *res,
                           uint64_t panic[4]) {
  struct bochs_cap_priv *p = s->priv;
  if (!p)
    return -EINVAL;
  inst *in = get_inst(p, BOCHS_MAXPHY, 0);
  if (!in)
    return -ENOMEM;
  int r = booted_stage_commands(in->mem, cmd, nquads, reslen);
  if (r == 0) {
    cap_wr64(in->mem, H_MBOX + MB_SEQ, 1);
    cap_wr64(in->mem, H_MBOX + MB_DONE, 0);
    r = bochs_exec(p, in, reslen, CHUNK_MS_BASE);
  }
  if (r == 0) {
    booted_take_results(in->mem, reslen, res, panic);
    r = cap_rd64(in->mem, H_MBOX + MB_DONE) == 1 ? 0 : 1;
  }
  inst_kill(p, in);
  return r;
}

static void bochs_close(capture_source *s) {
  struct bochs_cap_priv *p = s->priv;
  if (!p)
    return;
  if (p->in[0].live || p->in[0].mem)
    inst_kill(p, &p->in[0]);
  const char *files[] = {p->rampath, p->rcpath, p->cmdpath, p->errpath};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (files[i][0])
      unlink(files[i]);
  booted_close(&p->b);
  free(p);
  s->priv = NULL;
}

static const capture_departure *const bochs_departures[] = {
    &capture_smap_implicit_ac, NULL};

capture_source capture_bochs = {
    .name = "bochs",
    .needs = "bochs",
    .caps = GEN_CAP_1G | GEN_CAP_SMAP | GEN_CAP_IMPLICIT |
            GEN_CAP_PCID | GEN_CAP_PHYS40 | GEN_CAP_NOPAGING |
            GEN_CAP_PAGING32 | GEN_CAP_PAE | GEN_CAP_EPT | GEN_CAP_NPT,
    .modes = CAPTURE_MODES_LONG | CAPTURE_MODE_BIT(CAPTURE_MODE_OFF) |
             CAPTURE_MODE_BIT(CAPTURE_MODE_32) | CAPTURE_MODE_BIT(CAPTURE_MODE_PAE),
    .departures = bochs_departures,
    .open = bochs_open,
    .describe = bochs_describe,
    .run = bochs_run,
    .why = bochs_why,
    .close = bochs_close,
};
