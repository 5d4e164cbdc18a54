/* SPDX-License-Identifier: MIT */
/* Shared between the single-header consumers: the guest set-up they check. */
#ifndef MMU_CONSUMER_H
#define MMU_CONSUMER_H

#define CONSUMER_RAM_BYTES (1u << 20)          /* 1 MiB of guest RAM at 0 */
#define CONSUMER_PML4 0x1000u
#define CONSUMER_PDPT 0x2000u
#define CONSUMER_PD 0x3000u
#define CONSUMER_PT 0x4000u
#define CONSUMER_FRAME 0x80000u                /* the one mapped page */
#define CONSUMER_VADDR 0x00007f1234567000ull   /* where it is mapped */
#define CONSUMER_OFFSET 0x234u

#endif
