/* SPDX-License-Identifier: MIT */
/* booted.h - what the sources that boot the harness (qguest/qharness.S) in
 * an emulator process share (qemu.c, bochs.c): planning vectors into the
 * harness's command list, the RAM pattern that tells where an access
 * landed, parsing the results, and running batches in chunks with the
 * retry of vectors that broke the guest. How a chunk gets to the emulator
 * and back (the transport) is each source's: booted_ops. */
#ifndef BOOTED_CAP_H_INCLUDED
#define BOOTED_CAP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guest.h"
#include "qguest/qlayout.h"
#include "source.h"

#define BOOTED_PLAN_MAX_BYTES 16384 /* command bytes one vector may need */

/* Page states (booted_inst.pstate): what the plan knows a 4 KiB page of
 * guest RAM at or above H_END holds. */
enum { BOOTED_PG_PATTERN = 0, BOOTED_PG_TABLE = 1, BOOTED_PG_UNKNOWN = 2 };

typedef struct booted_stats {
  uint64_t vectors;   /* captured (status 0) */
  uint64_t refused;   /* -EINVAL, -ENOTSUP, -ERANGE */
  uint64_t failed;    /* broke or hung the guest, or made no sense */
  uint64_t boots;     /* emulator processes started */
  uint64_t chunks;    /* command lists run */
  uint64_t crashes;   /* instances killed (crash, hang, panic) */
  uint64_t mode_switches; /* 4-level <-> 5-level in the guest */
  double boot_seconds;    /* time spent starting (Bochs: running) them */
} booted_stats;

typedef struct booted_inst { /* one guest: the transport fills mem, pstate */
  int live;
  uint8_t *mem;             /* guest RAM as the host sees it, from 0 */
  uint32_t maxphy;
  int no1g;
  uint8_t *pstate;          /* per 4 KiB page: BOOTED_PG_* */
  uint64_t dirty[CAPTURE_MAX_TOUCHED]; /* entries that may be non-zero */
  unsigned ndirty;
  int la57;                 /* mode after the commands planned so far */
  int tainted;              /* memory no longer known: restart after */
  uint64_t last_use;
} booted_inst;

typedef struct booted booted;

typedef struct booted_ops {
  const char *name;   /* the emulator, in reasons ("QEMU") */
  const char *amd;    /* why MMU_CFG_AMD is refused */
  uint64_t vflags;    /* MMU_CFG_* set in every vector captured */
  int gp_outcomes;    /* records the #GP of register steps and INVPCID */
  int fresh_chunks;   /* every chunk on a new instance */
  /* A vector this emulator cannot run: -ENOTSUP or -EINVAL with the reason
   * set, else 0. run: before planning; step: for each of its steps, with
   * m (the harness's view of its memory) planned. NULL: none. */
  int (*refuse_run)(booted *b, const vec_vector *v, size_t vi);
  int (*refuse_step)(booted *b, const vec_vector *v, const capture_vmem *m,
                     uint32_t s, size_t vi);
  /* An instance for (maxphy, no1g), live, its mem and pstate set; NULL
   * with b->err set when none starts. */
  booted_inst *(*get)(booted *b, uint32_t maxphy, int no1g);
  void (*kill)(booted *b, booted_inst *in);
  /* Runs the command list in in->mem (H_CMD) and brings the guest's
   * mailbox, run-time state and results back into in->mem. 0: the list
   * ran to its end; 1: the guest panicked (mailbox MB_PANIC); <0: error,
   * b->err set. */
  int (*exec)(booted *b, booted_inst *in);
  void (*idle)(booted *b); /* after a batch; NULL: nothing */
} booted_ops;

struct booted {
  const booted_ops *ops;
  const capture_source *src;
  uint64_t ram_size;
  capture_cpu cpu; /* as the guest's CPUID says */
  capture_image img;
  capture_reasons reasons; /* of the last batch */
  booted_stats st;
  char err[512];
  uint64_t *cmd;   /* command list being built (quads) */
  size_t ncmd;     /* quads */
  struct booted_pend *pd;
  size_t npd, cappd;
  uint64_t resoff;
  void *tlb;
  size_t tlb_bytes;
  char tmpdir[256];  /* the source's files: /dev/shm (else /tmp)/NAME-cap-* */
  char rompath[320]; /* the reset ROM there */
  uint32_t cpuid[CPUID_N][4]; /* as the guest read it */
  uint64_t vmx_msr[MBV_N];    /* the VMX capability MSRs it read (MB_VMX) */
  int have_cpuid;
  char desc[1280];   /* the source's describe */
};

/* The 8 bytes RAM holds at gpa (gpa >= H_END) under the pattern. */
uint64_t booted_pattern_of(uint64_t gpa);

/* The harness as every source has it (guest.c), and what qharness.S's boot
 * and the RAM pattern need besides, in mem = guest RAM [0, H_END). */
void booted_build_harness(booted *b, uint8_t *mem);

/* What the transports do with processes and files. */
int64_t booted_now_ms(void);
double booted_now_s(void);
/* Reads fd until EOF or timeout; bytes read (NUL-terminated) or -1. */
ssize_t booted_read_timeout(int fd, char *buf, size_t n, int ms);
int booted_write_file(const char *path, const void *data, size_t n);
/* $var if set, else the executable `name` on $PATH: 0, errno or ENOENT. */
int booted_find_exe(const char *var, const char *name, char *out, size_t n);
/* fork + exec argv with stdin from inpath (NULL: /dev/null), stdout ->
 * *out_fd (a pipe; out_fd NULL: into errpath too), stderr -> errpath; the
 * child dies with us. */
pid_t booted_spawn(char *const argv[], const char *inpath, int *out_fd,
                   const char *errpath);
void booted_reap(pid_t pid, int *status);
/* The start of a file (stderr), newlines as spaces, for error messages. */
void booted_first_line(const char *path, char *buf, size_t n);

void booted_set_err(booted *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Allocates the planning buffers (0 or ENOMEM); booted_fini frees them. */
int booted_init(booted *b, const booted_ops *ops, const capture_source *src,
                uint64_t ram_size);
void booted_fini(booted *b);

/* The start of a source's open: the harness image (image..end), the
 * directory for its files (tag: "qemu" -> qemu-cap-*). 0 or errno, and
 * then nothing to undo. */
int booted_open(booted *b, const char *tag, const unsigned char *image,
                const unsigned char *end);
/* b->rompath: a 64 KiB ROM whose reset vector jumps to H_CODE (no
 * firmware runs). 0, or errno with b->err set. */
int booted_write_rom(booted *b);
/* The CPUID the guest left in its mailbox (mem: guest RAM from 0), into
 * b->cpuid and b->cpu. */
void booted_read_cpuid(booted *b, const uint8_t *mem);
/* A probe's raw command list (qemu_cap_run_commands,
 * bochs_cap_run_commands): into mem's H_CMD with the panic record cleared
 * (-EINVAL if it or reslen does not fit, else 0); after the run, the
 * results [H_RES, +reslen) and the panic record (vector, code, CR2, RIP)
 * out of mem. */
int booted_stage_commands(uint8_t *mem, const uint64_t *cmd, size_t nquads,
                          uint64_t reslen);
void booted_take_results(const uint8_t *mem, uint64_t reslen, uint8_t *res,
                         uint64_t panic[4]);
/* "cpu VENDOR \"BRAND\" family ... maxphyaddr=N" for a description. */
void booted_describe_cpu(const booted *b, char *buf, size_t n);
/* capture_source.why: vector i's reason; before any run, the last error. */
const char *booted_why(const booted *b, size_t i);
/* Removes the ROM and the directory (the source removed its own files
 * there first) and frees what booted_init allocated. */
void booted_close(booted *b);

/* capture_source.run for the source whose booted this is. */
int booted_run(booted *b, vec_vector *v, size_t n, int *status);

#endif
