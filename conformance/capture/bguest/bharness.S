/* SPDX-License-Identifier: MIT */
/* bharness.S - guest code of the Bochs capture source (bochs.c): the QEMU
 * harness (qguest/qharness.S) under its own name, which at the end of a
 * command list (or on a panic) writes its results out through port 0xE9
 * (Bochs's port_e9_hack), since Bochs shares no memory with the host:
 *   "MMUDUMP!", [H_MBOX, +BX_DUMP_MBOX), [H_RT, +BX_DUMP_RT),
 *   [H_RES, +MB_DUMPLEN)
 * then asks Bochs to quit through its shutdown port (0x8900). */
#include "../qguest/qlayout.h"
#include "blayout.h"

#define qemu_guest_image bochs_guest_image
#define qemu_guest_image_end bochs_guest_image_end
#define qemu_guest_stubs32 bochs_guest_stubs32

#define CHUNK_END_HOOK \
	cld; mov rax, BX_DUMP_MAGIC; push rax; mov rsi, rsp; mov ecx, 8; \
	mov edx, DEBUGCON_PORT; rep outsb; pop rax; \
	lea rsi, [r15 + H_MBOX]; mov ecx, BX_DUMP_MBOX; rep outsb; \
	lea rsi, [r15 + H_RT]; mov ecx, BX_DUMP_RT; rep outsb; \
	lea rsi, [r15 + H_RES]; mov rcx, [r15 + H_MBOX + MB_DUMPLEN]; \
	rep outsb; \
	mov edx, BX_SHUTDOWN_PORT; mov rax, BX_SHUTDOWN; push rax; \
	mov rsi, rsp; mov ecx, 8; rep outsb; pop rax

#define BOCHS_VMX_PROBE 1 /* C_VMX: bguest/vmx.inc */
#include "../qguest/qharness.S"
