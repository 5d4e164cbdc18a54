/* SPDX-License-Identifier: MIT */
/* blayout.h - what the Bochs harness (bharness.S) adds to the QEMU
 * harness's layout and commands (qguest/qlayout.h): how it sends its
 * results out. Plain #defines only: included from assembly. */
#ifndef BOCHS_CAP_GUEST_LAYOUT_H
#define BOCHS_CAP_GUEST_LAYOUT_H

#define MB_DUMPLEN 0x38         /* host: bytes of H_RES to send out */
#define BX_DUMP_MBOX 0x200      /* mailbox bytes sent out (CPUID, panic) */
#define BX_DUMP_RT 0x100        /* run-time state bytes sent out */
#define BX_DUMP_MAGIC 0x21504d5544554d4d /* "MMUDUMP!" */
#define BX_SHUTDOWN_PORT 0x8900 /* Bochs quits on "Shutdown" written here */
#define BX_SHUTDOWN 0x6e776f6474756853 /* "Shutdown" */

#endif
