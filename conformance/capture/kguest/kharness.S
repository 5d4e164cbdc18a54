/* SPDX-License-Identifier: MIT */
/* kharness.S - 64-bit guest code of the KVM capture source (kvm.c).
 *
 * Assembled into the host program's .rodata and copied by the host to
 * guest-physical H_CODE. Position independent: it runs at HB + H_CODE where
 * HB is 1 << 39 (4-level) or 1 << 48 (5-level); r15 always holds HB.
 *
 * One KVM_RUN per vector, from entry with CPL 0 and the harness CR3:
 *   1. write the vector's paging entries (mailbox list) through the window
 *   2. MOV to CR3 the vector's CR3
 *   3. snapshot the monitored entries, then for each step: do it, record
 *      the exception (if any), snapshot again
 *   4. back to the harness CR3, zero every entry written, out EXIT_DONE.
 * Accesses that may have succeeded end with out EXIT_STEP so the host can
 * KVM_TRANSLATE them while the vector's CR3 is live (skipped when an MMIO
 * exit already gave the physical address). Faults are caught by arming a
 * recovery point (rsp, rip) that the exception handler jumps to. */
#include "klayout.h"
#define GUEST_IMAGE kvm_guest_image
#define GUEST_IMAGE_END kvm_guest_image_end
#define WRITE_FILL 0 /* no prediction: outside RAM (MMIO) or not present */

	.intel_syntax noprefix
	.section .rodata.kvm_guest, "a"
	.balign 4096
	.globl kvm_guest_image
	.globl kvm_guest_image_end
	.code64

#include "../guest/macros.inc"

.macro EXIT code
	mov al, \code
	out EXIT_PORT, al
.endm

kvm_guest_image:
	jmp entry
	IMAGE_HEADER

entry:
	lea r15, [rip + kvm_guest_image]
	sub r15, H_CODE
	lea rsp, [r15 + H_KSTACK_TOP]
	push 2
	popfq
	mov qword ptr [r15 + H_STATE + R_ARMED], 0

	/* 1. the vector's paging entries (only those that differ) */
	mov rcx, [r15 + H_MBOX + MB_NWRITES]
	lea rsi, [r15 + H_MBOX + MB_WRITES]
	call write_list
	mov rax, [r15 + H_MBOX + MB_CPL]
	mov [r15 + H_STATE + R_CPL], rax
	mov rax, [r15 + H_MBOX + MB_AC]
	mov [r15 + H_STATE + R_AC], rax

	cmp qword ptr [r15 + H_MBOX + MB_PKRU_SET], 0
	je 3f
	ARM pkru_bad
	xor ecx, ecx
	xor edx, edx
	mov eax, [r15 + H_MBOX + MB_PKRU]
	wrpkru
	DISARM
3:
	/* a full TLB flush (CR4.PGE toggled: SDM 4.10.4.1) so that no
	 * translation of the previous vector survives, even where the new
	 * CR3 equals the old one and the shadow pages were out of sync */
	mov rax, cr4
	mov rcx, rax
	xor rax, 0x80
	mov cr4, rax
	mov cr4, rcx

	/* 2. the vector's CR3 */
	ARM cr3_bad
	mov rax, [r15 + H_MBOX + MB_VEC_CR3]
	mov cr3, rax
	DISARM

	/* the previous vector's harness entries, now that its CR3 is gone */
	mov rcx, [r15 + H_MBOX + MB_NPOST]
	lea rsi, [r15 + H_MBOX + MB_POST]
	call write_list

	/* INVLPG every address the steps access: KVM keeps a per-vCPU cache
	 * of the last MMIO translation that survives CR3 and CR4.PGE writes
	 * (a departure: SDM 4.10.4.1 lets no translation survive them) and
	 * INVLPG of the address clears it */
	xor ecx, ecx
1:
	cmp rcx, [r15 + H_MBOX + MB_NSTEPS]
	jae 2f
	imul rdx, rcx, STEP_SIZE
	lea rdx, [r15 + rdx + H_MBOX + MB_STEPS]
	cmp qword ptr [rdx + S_OP], OP_ACCESS
	jne 4f
	mov rax, [rdx + S_A]
	invlpg [rax]
4:
	inc rcx
	jmp 1b
2:

	/* 3. steps */
	xor ebx, ebx
	call snapshot
	xor r12d, r12d
step_loop:
	cmp r12, [r15 + H_MBOX + MB_NSTEPS]
	jae teardown
	mov [r15 + H_STATE + R_CUR], r12
	imul r13, r12, STEP_SIZE
	lea r13, [r15 + r13 + H_MBOX + MB_STEPS]
	STEP_DISPATCH
	/* unknown op: nothing */
step_next:
	mov rax, r12
	shl rax, 5
	lea rdi, [r15 + rax + H_RES + R_EXC]
	STORE_EXC
	lea rbx, [r12 + 1]
	call snapshot
	inc r12
	jmp step_loop

pkru_bad:
	EXIT EXIT_BADPKRU
	jmp teardown

cr3_bad:
	EXIT EXIT_BADCR3
	jmp teardown

	/* 4. done: the next vector cleans up what differs. The next KVM_RUN
	 * starts over at entry. */
teardown:
	EXIT EXIT_DONE
	jmp entry

/* rcx = count, rsi = (gpa, value) pairs; see MB_WRITES */
write_list:
1:	test rcx, rcx
	jz 3f
	mov rax, [rsi]
	test eax, 7
	jnz 2f
	mov rdx, [rsi + 8]
	mov [r15 + rax], rdx
	add rsi, 16
	dec rcx
	jmp 1b
2:	mov dl, [r15 + rax]
	mov [r15 + rax], dl
	add rsi, 16
	dec rcx
	jmp 1b
3:	ret

/* rbx = snapshot index: copy the monitored entries to R_SNAP[rbx] */
snapshot:
	mov rcx, [r15 + H_MBOX + MB_NMON]
	lea rsi, [r15 + H_MBOX + MB_MON]
	imul rdi, rbx, MAX_WATCH * 8
	lea rdi, [r15 + rdi + H_RES + R_SNAP]
1:	test rcx, rcx
	jz 2f
	mov rax, [rsi]
	mov rax, [r15 + rax]
	mov [rdi], rax
	add rsi, 8
	add rdi, 8
	dec rcx
	jmp 1b
2:	ret

/* ---- the end of an access ------------------------------------------ */
acc_done:
	/* exit for a translation unless it surely faulted or MMIO told */
	cmp qword ptr [r15 + r12 * 8 + H_MBOX + MB_MMIO_SEEN], 0
	jne step_next
	cmp qword ptr [r15 + H_STATE + R_EVEC], 14
	jne 4f
	mov rax, [r13 + S_KIND]
	and eax, 3
	cmp eax, 2
	jne step_next
	mov rax, [r15 + H_STATE + R_ECR2]
	cmp rax, [r13 + S_A]
	je step_next
4:	EXIT EXIT_STEP
	jmp step_next

exc_panic:
	EXIT EXIT_PANIC
	hlt
	jmp exc_panic

#include "../guest/steps.inc"

	.section .note.GNU-stack, "", @progbits
