/* SPDX-License-Identifier: MIT */
/* Property test of the OS side: fuzz/space_model.h (the decoder, shadow
 * model and checks of fuzz_space_sequence) run on inputs from a fixed-seed
 * PRNG. Optimised builds run 2,000 inputs of 2 KiB; sanitizer and -O0
 * builds 300. A failing input is written to space_property_fail.bin in the
 * working directory: replay it with fuzz_space_sequence_repro (FUZZ_TRACE=1
 * for a step-by-step trace). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>

__attribute__((noreturn, format(printf, 1, 2))) static void
sm_test_fail(const char *fmt, ...);
#define SM_FAIL sm_test_fail
#include "../fuzz/space_model.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SP_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SP_SANITIZED 1
#endif
#if defined(__OPTIMIZE__) && !defined(SP_SANITIZED)
#define SP_INPUTS 2000
#else
#define SP_INPUTS 300
#endif
#define SP_BYTES 2048

static sm_state st;
static uint8_t input[SP_BYTES];
static size_t input_len;

static void sm_test_fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  FILE *f = fopen("space_property_fail.bin", "wb");
  if (f) {
    fwrite(input, 1, input_len, f);
    fclose(f);
  }
  cr_assert_fail("%s (input written to space_property_fail.bin)", msg);
  abort(); /* not reached: the failed assertion ends the test */
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

Test(space_property, random_sequences_match_the_model, .timeout = 280) {
  unsigned ops = 0, ok = 0, segv = 0, err = 0, retry = 0;
  unsigned classes = 0, sigbus = 0, writebacks = 0;
  uint64_t cow = 0, swapin = 0;
  for (int i = 0; i < SP_INPUTS; i++) {
    input_len = SP_BYTES;
    for (size_t k = 0; k < input_len; k++)
      input[k] = (uint8_t)next();
    sm_run(&st, input, input_len);
    ops += st.op;
    ok += st.n_ok;
    segv += st.n_segv;
    err += st.n_err;
    retry += st.n_retry;
    classes += st.n_shared_classes;
    sigbus += st.n_sigbus;
    writebacks += st.n_writebacks;
    cow += st.w.sys.vm.cow_copies;
    swapin += st.w.sys.vm.pswpin;
  }
  /* the inputs reach what they are meant to */
  cr_expect_gt(segv, 0);
  cr_expect_gt(err, 0);
  cr_expect_gt(retry, 0);
  cr_expect_gt(cow, 0);
  cr_expect_gt(swapin, 0);
  cr_expect_gt(classes, 0); /* MAP_SHARED: fault classes the model knew */
  cr_expect_gt(sigbus, 0);
  cr_expect_gt(writebacks, 0);
  cr_log_info("%d inputs, %u ops: %u accesses ok, %u SIGSEGV, %u errors "
              "(%u retried), %llu COW copies, %llu swap-ins; shared: %u "
              "fault classes checked, %u SIGBUS, %u pages written back",
              SP_INPUTS, ops, ok, segv, err, retry, (unsigned long long)cow,
              (unsigned long long)swapin, classes, sigbus, writebacks);
}
