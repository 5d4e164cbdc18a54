/* SPDX-License-Identifier: MIT */
/* qharness.S - guest code of the QEMU TCG capture source (qemu.c).
 *
 * Assembled into the host program's .rodata; the host copies it to
 * guest-physical H_CODE (see qlayout.h) before QEMU starts, and a 64 KiB
 * -bios whose reset vector is "ljmp 0x1000:0" enters it in real mode.
 * 16-bit boot -> 32-bit -> long mode (4- or 5-level) -> the interpreter at
 * HB + H_CODE, r15 = HB. Switching paging mode goes back through 32-bit
 * code with paging off (identity-mapped), since CR4.LA57 can only change
 * there.
 *
 * Per vector (C_RUN): load EFER, CR4, CR0, PKRU, CR3 as the vector says,
 * flush, run the steps, back to the harness registers. An access step
 * records the exception it raised; if it may have succeeded, a follow-up
 * 8-byte read of the neighbouring cell ((va & ~7) ^ 8) at CPL 0 with AC = 1
 * and PKRU = 0 reads the RAM pattern, which tells the host the physical
 * address. Watched entries are compared after each access (A/D changes). */
#include "qlayout.h"
#define GUEST_IMAGE qemu_guest_image
#define GUEST_IMAGE_END qemu_guest_image_end
#define WRITE_FILL 0xd6 /* no prediction: a byte that is not a pattern's */
#ifndef CHUNK_END_HOOK /* bochs.c's harness sends its results out here */
#define CHUNK_END_HOOK
#endif

	.section .rodata.qemu_guest, "a"
	.balign 4096
	.globl qemu_guest_image
	.globl qemu_guest_image_end

#define OFF(label) ((label) - qemu_guest_image)
#define PHYS(label) (H_CODE + (label) - qemu_guest_image)

#include "../guest/macros.inc"

/* From compatibility mode at an identity address: paging off (leaving
 * long mode), flat data segments (SS may be null after an interrupt in
 * 64-bit mode), the harness stack. */
.macro PAGING_OFF32
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	movl $SEL_KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $H_KSTACK_TOP, %esp
.endm

/* ======================= 16-bit: entered at 0x1000:0000 ================ */
	.att_syntax prefix
	.code16
qemu_guest_image:
	jmp boot16
	IMAGE_HEADER
gdtr_low:                                  /* 16-bit lgdtl and 64-bit lgdt */
	.word GDT_LIMIT
	.long H_GDT
	.long 0
	.word 0

boot16:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw $0x7000, %sp
	lgdtl %cs:OFF(gdtr_low)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $PHYS(boot32)

/* ======================= 32-bit, paging off ============================ */
	.code32
boot32:
	movl $SEL_KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $H_KSTACK_TOP, %esp
	movl (H_MBOX + MB_BOOT_LA57), %edi
	/* fall through */

/* edi = 1 for 5-level paging. Protected mode, paging off. */
enter_long32:
	movl $0x20, %eax                /* CR4.PAE */
	testl %edi, %edi
	jz 1f
	orl $0x1000, %eax               /* CR4.LA57 */
1:	movl %eax, %cr4
	movl $H_PML4, %eax
	testl %edi, %edi
	jz 2f
	movl $H_PML5, %eax
2:	movl %eax, %cr3
	movl $0xc0000080, %ecx
	movl $0x100, %eax               /* EFER.LME */
	xorl %edx, %edx
	wrmsr
	movl $0x80000011, %eax          /* PG | ET | PE */
	movl %eax, %cr0
	ljmpl $SEL_KCODE, $PHYS(long_low)

/* from 64-bit code at an identity address, via lretq */
switch32:
	PAGING_OFF32
	jmp enter_long32

/* ======================= 64-bit ======================================== */
	.code64
	.intel_syntax noprefix

.macro EMIT ch
	mov al, \ch
	out DEBUGCON_PORT, al
.endm

long_low:                               /* identity address */
	mov edi, edi
	mov rax, 1 << 39
	test edi, edi
	jz 1f
	mov rax, 1 << 48
1:	/* AT&T syntax: clang's Intel-syntax parser refuses a symbol
	 * difference as an immediate */
	.att_syntax prefix
	addq $PHYS(long_high), %rax
	.intel_syntax noprefix
	jmp rax

long_high:                              /* HB + H_CODE + ... */
	lea r15, [rip + qemu_guest_image]
	sub r15, H_CODE
	lea rsp, [r15 + H_KSTACK_TOP]
	sub rsp, 16
	mov word ptr [rsp + 6], GDT_LIMIT
	lea rax, [r15 + H_GDT]
	mov [rsp + 8], rax
	lgdt [rsp + 6]
	mov word ptr [rsp + 6], 32 * 16 - 1
	lea rax, [r15 + H_IDT4]
	test edi, edi
	jz 1f
	lea rax, [r15 + H_IDT5]
1:	mov [rsp + 8], rax
	lidt [rsp + 6]
	add rsp, 16
	mov eax, SEL_KDATA
	mov ds, ax
	mov es, ax
	mov ss, ax
	xor eax, eax
	mov fs, ax
	mov gs, ax
	mov ecx, SEL_TSS4
	test edi, edi
	jz 2f
	mov ecx, SEL_TSS5
2:	and byte ptr [r15 + rcx + H_GDT + 5], 0xfd /* not busy */
	ltr cx
	mov [r15 + H_MBOX + MB_CUR_LA57], rdi
	mov qword ptr [r15 + H_RT + R_ARMED], 0
	cmp qword ptr [r15 + H_MBOX + MB_RESUME], 0
	jne resume
	call do_cpuid
	mov qword ptr [r15 + H_MBOX + MB_READY], 1
	EMIT 'R'

main_loop:
	mov rax, [r15 + H_MBOX + MB_SEQ]
	cmp rax, [r15 + H_MBOX + MB_DONE]
	jne 1f
	pause
	jmp main_loop
1:	mov [r15 + H_RT + R_SEQ], rax
	xor r14d, r14d                  /* command cursor, from H_CMD */
	jmp interp

resume:
	mov qword ptr [r15 + H_MBOX + MB_RESUME], 0
	mov r14, [r15 + H_MBOX + MB_CURSOR]
	jmp interp

chunk_done:
	mov rax, [r15 + H_RT + R_SEQ]
	mov [r15 + H_MBOX + MB_DONE], rax
	CHUNK_END_HOOK
	EMIT 'D'
	jmp main_loop

/* rax = MSR msr, also stored at rdi + 8 * slot */
.macro RDMSR_TO msr, slot
	mov ecx, \msr
	rdmsr
	shl rdx, 32
	or rax, rdx
	mov [rdi + 8 * \slot], rax
.endm

do_cpuid:
	lea rdi, [r15 + H_MBOX + MB_CPUID]
	lea rsi, [rip + cpuid_leaves]
	mov r8d, CPUID_N
1:	mov eax, [rsi]
	xor ecx, ecx
	cpuid
	mov [rdi], eax
	mov [rdi + 4], ebx
	mov [rdi + 8], ecx
	mov [rdi + 12], edx
	add rsi, 4
	add rdi, 16
	dec r8d
	jnz 1b
	/* the VMX capability MSRs (MB_VMX), only those the CPU has */
	lea rdi, [r15 + H_MBOX + MB_VMX]
	xor eax, eax
	mov ecx, MBV_N
	cld
	rep stosq
	lea rdi, [r15 + H_MBOX + MB_VMX]
	mov eax, 1
	xor ecx, ecx
	cpuid
	bt ecx, 5                       /* VMX */
	jnc 9f
	or qword ptr [rdi + 8 * MBV_READ], 1
	RDMSR_TO 0x3a, MBV_FEATCTL
	RDMSR_TO 0x482, MBV_PROC
	bt rax, 63                      /* activate secondary controls */
	jnc 9f
	or qword ptr [rdi + 8 * MBV_READ], 2
	RDMSR_TO 0x48b, MBV_PROC2
	mov rdx, rax
	shr rdx, 32
	test edx, (1 << 1) | (1 << 5)   /* EPT or VPID allowed */
	jz 9f
	or qword ptr [rdi + 8 * MBV_READ], 4
	RDMSR_TO 0x48c, MBV_EPTVPID
9:	ret
	.balign 4
cpuid_leaves:
	.long 0, 1, 7, 0x80000000, 0x80000001, 0x80000002, 0x80000003
	.long 0x80000004, 0x80000008, 0x8000000a

/* ---- the command interpreter ----------------------------------------- */
interp:
	lea rsi, [r15 + r14 + H_CMD]
	mov rax, [rsi]
	cmp rax, C_END
	je chunk_done
	cmp rax, C_MODE
	je c_mode
	cmp rax, C_VEC
	je c_vec
	cmp rax, C_ZERO
	je c_zero
	cmp rax, C_FILL
	je c_fill
	cmp rax, C_WR
	je c_wr
	cmp rax, C_MON
	je c_mon
	cmp rax, C_RUN
	je c_run
	cmp rax, C_SVM
	je c_svm
#ifdef BOCHS_VMX_PROBE
	cmp rax, C_VMX
	je c_vmx
#endif
	/* unknown: report like an exception */
	mov qword ptr [r15 + H_RT + R_EVEC], 0x100
	jmp exc_panic

c_mode:
	mov rdi, [rsi + 8]
	add r14, 16
	cmp rdi, [r15 + H_MBOX + MB_CUR_LA57]
	je interp
	mov [r15 + H_MBOX + MB_CURSOR], r14
	mov qword ptr [r15 + H_MBOX + MB_RESUME], 1
	/* harness CR3 is current between vectors: go to the identity copy */
	mov rsp, H_KSTACK_TOP
	.att_syntax prefix
	movq $PHYS(switch_low), %rax
	.intel_syntax noprefix
	jmp rax
switch_low:
	lgdt [rip + gdtr_low]           /* GDT at its physical address */
	push SEL_KCODE32
	lea rax, [rip + switch32]
	push rax
	.byte 0x48, 0xcb                /* lretq */

c_vec:
	mov rax, [rsi + 8]
	mov [r15 + H_RT + R_CUR], rax
	mov rax, [rsi + 16]
	mov [r15 + H_RT + R_RESOFF], rax
	mov rax, [rsi + 24]
	mov [r15 + H_RT + R_RECCAP], rax
	inc qword ptr [r15 + H_RT + R_HEART]
	mov rbp, [r15 + H_RT + R_RESOFF]
	lea rbp, [r15 + rbp + H_RES]
	mov qword ptr [rbp + V_STATUS], 1
	mov qword ptr [rbp + V_SETUP], 0
	mov qword ptr [rbp + V_NREC], 0
	mov qword ptr [rbp + V_FLAGS], 0
	add r14, 32
	jmp interp

c_zero:
	mov rdi, [rsi + 8]
	add rdi, r15
	xor eax, eax
	mov ecx, 512
	rep stosq
	add r14, 16
	jmp interp

c_fill:
	mov rdi, [rsi + 8]
	mov r9, rdi
	add r9, 4096
1:	mov rdx, rdi
	call enc_cell
	mov [r15 + rdi], rax
	add rdi, 8
	cmp rdi, r9
	jb 1b
	add r14, 16
	jmp interp

c_wr:
	mov rcx, [rsi + 8]
	add rsi, 16
	add r14, 16
1:	test rcx, rcx
	jz interp
	mov rax, [rsi]
	mov rdx, [rsi + 8]
	mov [r15 + rax], rdx
	add rsi, 16
	add r14, 16
	dec rcx
	jmp 1b

c_mon:
	mov rcx, [rsi + 8]
	mov [r15 + H_RT + R_NMON], rcx
	lea rax, [r14 + 16]
	mov [r15 + H_RT + R_MONOFF], rax
	lea r14, [r14 + rcx * 8 + 16]
	xor r8d, r8d
	mov r8d, 2
	call diff                       /* silent snapshot */
	jmp interp

/* ---- pattern: see qemu.c (pattern_of) --------------------------------- */
.macro ENCB shift, mask, table
	mov rcx, r8
	shr rcx, \shift
	and ecx, \mask
	movzx ecx, byte ptr [r15 + rcx + \table]
	shl rax, 8
	or rax, rcx
.endm
/* rdx = 8-aligned gpa -> rax = pattern; clobbers rcx, r8 */
enc_cell:
	mov r8, rdx
	shr r8, 3
	xor eax, eax
	ENCB 24, 15, H_SYM16            /* byte 7 */
	ENCB 20, 15, H_SYM16            /* byte 6 */
	ENCB 28, 7, H_SYM8              /* byte 5 */
	ENCB 16, 15, H_SYM16            /* byte 4 */
	ENCB 12, 15, H_SYM16
	ENCB 8, 15, H_SYM16
	ENCB 4, 15, H_SYM16
	ENCB 0, 15, H_SYM16             /* byte 0 */
	ret

.macro DECB byte, shift, table
	mov rcx, rax
	shr rcx, 8 * \byte
	and ecx, 0xff
	movzx ecx, byte ptr [r15 + rcx + \table]
	cmp ecx, 0xff
	je 9f
	shl rcx, \shift
	or rdx, rcx
.endm
/* rax = pattern -> rdx = gpa, or -1; clobbers rcx */
dec_cell:
	xor edx, edx
	DECB 0, 0, H_INV16
	DECB 1, 4, H_INV16
	DECB 2, 8, H_INV16
	DECB 3, 12, H_INV16
	DECB 4, 16, H_INV16
	DECB 6, 20, H_INV16
	DECB 7, 24, H_INV16
	DECB 5, 28, H_INV8
	shl rdx, 3
	ret
9:	mov rdx, -1
	ret

/* Compare the watched entries with their last values. r8 = record type
 * (0 access, 1 follow-up, 2 none: just update); r12 = step index. */
diff:
	mov r9, [r15 + H_RT + R_MONOFF]
	xor r10d, r10d
1:	cmp r10, [r15 + H_RT + R_NMON]
	jae 9f
	mov rax, [r15 + r9 + H_CMD]
	mov rax, [r15 + rax]
	cmp rax, [r15 + r10 * 8 + H_MONVAL]
	je 3f
	mov [r15 + r10 * 8 + H_MONVAL], rax
	cmp r8, 2
	je 3f
	mov r11, [rbp + V_NREC]
	cmp r11, [r15 + H_RT + R_RECCAP]
	jae 2f
	shl r11, 4
	add r11, [r15 + H_RT + R_RECOFF]
	mov rdx, r10
	shl rdx, 16
	mov rcx, r8
	shl rcx, 8
	or rdx, rcx
	or rdx, r12
	mov [rbp + r11], rdx
	mov [rbp + r11 + 8], rax
	inc qword ptr [rbp + V_NREC]
	jmp 3f
2:	or qword ptr [rbp + V_FLAGS], 1
3:	add r9, 8
	inc r10
	jmp 1b
9:	ret

/* ---- one vector -------------------------------------------------------- */
c_run:
	mov [r15 + H_RT + R_RUNOFF], r14
	mov rbp, [r15 + H_RT + R_RESOFF]
	lea rbp, [r15 + rbp + H_RES]
	mov rax, [rsi + 72]             /* nsteps */
	imul rax, rax, VS_SIZE
	add rax, V_STEPS
	mov [r15 + H_RT + R_RECOFF], rax
	mov r13, rsi
	/* outside IA-32e (paging off or EFER.LME clear): run32 */
	test dword ptr [r13 + 8], 0x80000000
	jz 1f
	test dword ptr [r13 + 24], 0x100
	jnz 2f
1:	mov rsp, H_KSTACK_TOP
	.att_syntax prefix
	movq $PHYS(run32_low), %rax
	.intel_syntax noprefix
	jmp rax
run32_low:                              /* identity address */
	lgdt [rip + gdtr_low]
	push SEL_KCODE32
	lea rax, [rip + run32]
	push rax
	.byte 0x48, 0xcb                /* lretq */
2:

	/* PKRU first, while CR4 is the harness's (+PKE) */
	cmp qword ptr [r13 + 40], 0
	je 1f
	mov qword ptr [r15 + H_RT + R_STAGE], 4
	ARM setup_fail
	mov rax, cr4
	or rax, 1 << 22
	mov cr4, rax
	xor ecx, ecx
	xor edx, edx
	mov eax, [r13 + 48]
	wrpkru
	DISARM
1:
	mov qword ptr [r15 + H_RT + R_STAGE], 1
	ARM setup_fail
	mov ecx, 0xc0000080
	mov eax, [r13 + 24]
	mov edx, [r13 + 28]
	wrmsr
	mov qword ptr [r15 + H_RT + R_STAGE], 2
	mov rax, [r13 + 16]
	mov cr4, rax
	mov qword ptr [r15 + H_RT + R_STAGE], 3
	mov rax, [r13 + 8]
	mov cr0, rax
	mov qword ptr [r15 + H_RT + R_STAGE], 5
	mov rax, [r13 + 32]
	mov cr3, rax
	/* flush everything, global entries included */
	mov rax, cr4
	test eax, 0x80
	jz 2f
	and rax, ~0x80
	mov cr4, rax
	or rax, 0x80
	mov cr4, rax
2:	DISARM
	mov rax, [r13 + 56]
	mov [r15 + H_RT + R_CPL], rax
	mov rax, [r13 + 64]
	mov [r15 + H_RT + R_AC], rax
	xor r12d, r12d
	mov r8d, 2
	call diff

step_loop:
	mov rsi, [r15 + H_RT + R_RUNOFF]
	lea rsi, [r15 + rsi + H_CMD]
	cmp r12, [rsi + 72]
	jae teardown
	imul r13, r12, STEP_SIZE
	lea r13, [rsi + r13 + RUN_HDR]
	STEP_DISPATCH
step_next:                              /* non-access steps */
	call rec_exc
	mov r8d, 2
	call diff
	mov qword ptr [rdi + 32], 0
	mov qword ptr [rdi + 40], -2
step_after:
	inc r12
	jmp step_loop

/* store the last exception in the step's result slot; rdi = slot */
rec_exc:
	imul rdi, r12, VS_SIZE
	lea rdi, [rbp + rdi + V_STEPS]
	STORE_EXC
	ret

setup_fail:
	mov rax, [r15 + H_RT + R_EVEC]
	shl rax, 8
	or rax, [r15 + H_RT + R_STAGE]
	mov [rbp + V_SETUP], rax
	push 2
	popfq
	jmp teardown

teardown:
	DISARM
	mov rax, H_PML4
	cmp qword ptr [r15 + H_MBOX + MB_CUR_LA57], 0
	je 1f
	mov rax, H_PML5
1:	mov cr3, rax
	mov rax, 0x20
	cmp qword ptr [r15 + H_MBOX + MB_CUR_LA57], 0
	je 2f
	or rax, 0x1000
2:	mov cr4, rax
	mov eax, 0x80000011
	mov cr0, rax
	mov ecx, 0xc0000080
	mov eax, 0x100
	xor edx, edx
	wrmsr
	xor eax, eax
	mov fs, ax
	mov qword ptr [rbp + V_STATUS], 2
	mov rsi, [r15 + H_RT + R_RUNOFF]
	lea rax, [r15 + rsi + H_CMD]
	mov rax, [rax + 72]
	imul rax, rax, STEP_SIZE
	lea r14, [rsi + rax + RUN_HDR]
	jmp interp

/* ---- the end of an access ------------------------------------------- */
acc_done:
	mov eax, SEL_KDATA
	mov ds, ax
	mov es, ax
	call rec_exc
	xor r8d, r8d
	call diff
	/* follow-up read unless the access surely faulted */
	mov rax, [r15 + H_RT + R_EVEC]
	cmp rax, -1
	je fu
	cmp rax, 6
	je fu
	cmp rax, 11
	je fu
	cmp rax, 13
	jne fu_skip
	mov rcx, [r13 + S_KIND]
	test ecx, 4
	jz fu_skip
	cmp qword ptr [r15 + H_RT + R_EEC], 0
	jne fu
fu_skip:
	imul rdi, r12, VS_SIZE
	lea rdi, [rbp + rdi + V_STEPS]
	mov qword ptr [rdi + 32], 0
	mov qword ptr [rdi + 40], -2
	jmp step_after

fu:
	mov qword ptr [r15 + H_RT + R_PKSAVED], 0
	mov rax, cr4
	bt rax, 22
	jnc 1f
	xor ecx, ecx
	rdpkru
	mov [r15 + H_RT + R_PKRU], rax
	mov qword ptr [r15 + H_RT + R_PKSAVED], 1
	xor eax, eax
	xor ecx, ecx
	xor edx, edx
	wrpkru
1:	ARM fu_recover
	pushfq
	or qword ptr [rsp], 0x40000
	popfq
	mov rax, [r13 + S_A]
	and rax, -8
	xor rax, 8
	mov rax, [rax]
	DISARM
	push 2
	popfq
	mov rbx, -1
	jmp fu_done
fu_recover:
	push 2
	popfq
	mov rbx, [r15 + H_RT + R_EVEC]
	xor eax, eax
fu_done:
	imul rdi, r12, VS_SIZE
	lea rdi, [rbp + rdi + V_STEPS]
	mov [rdi + 32], rax
	mov [rdi + 40], rbx
	cmp qword ptr [r15 + H_RT + R_PKSAVED], 0
	je 2f
	mov rsi, rax
	xor ecx, ecx
	xor edx, edx
	mov eax, [r15 + H_RT + R_PKRU]
	wrpkru
	mov rax, rsi
2:	/* a write: put the pattern back in the cell written */
	cmp rbx, -1
	jne 3f
	mov rcx, [r13 + S_KIND]
	and ecx, 7
	cmp ecx, 1
	jne 3f
	call dec_cell
	cmp rdx, -1
	je 3f
	xor rdx, 8
	cmp rdx, H_END
	jb 3f
	mov rdi, rdx
	call enc_cell
	mov [r15 + rdi], rax
3:	mov r8d, 1
	call diff
	jmp step_after

exc_panic:
	mov rax, [r15 + H_RT + R_EVEC]
	mov [r15 + H_MBOX + MB_PANIC], rax
	mov rax, [r15 + H_RT + R_EEC]
	mov [r15 + H_MBOX + MB_PANIC + 8], rax
	mov rax, [r15 + H_RT + R_ECR2]
	mov [r15 + H_MBOX + MB_PANIC + 16], rax
	mov rax, [r15 + H_RT + R_ERIP]
	mov [r15 + H_MBOX + MB_PANIC + 24], rax
	CHUNK_END_HOOK
	EMIT 'P'
1:	cli
	hlt
	jmp 1b

#include "svm.inc"
#ifdef BOCHS_VMX_PROBE
#include "../bguest/vmx.inc"
#endif

/* ======== outside IA-32e: 32-bit code at identity addresses ========== */
/* Entered from c_run in compatibility mode with the harness CR3: paging
 * off (leaving IA-32e), the vector's EFER, CR4, CR3 and CR0 (PG loads the
 * PDPTEs under PAE), the steps through steps32.inc, then back to long mode
 * by enter_long32, which resumes the command list after the vector. */
	.att_syntax prefix
	.code32
	.balign 4
idtr32:
	.word 32 * 8 - 1
	.long H_IDT32

/* the vector's results: %ebp = H_RES + R_RESOFF */
.macro RESBASE reg
	movl H_RT + R_RESOFF, \reg
	addl $H_RES, \reg
.endm

run32:
	PAGING_OFF32
	lidt PHYS32(idtr32)
	andb $0xfd, H_GDT + SEL_TSS32 + 5
	movw $SEL_TSS32, %ax
	ltr %ax
	movl H_RT + R_RUNOFF, %esi
	addl $H_CMD, %esi
	ARM32 setup_fail32
	movl $1, H_RT + R_STAGE
	movl $0xc0000080, %ecx
	movl 24(%esi), %eax
	movl 28(%esi), %edx
	wrmsr
	movl $2, H_RT + R_STAGE
	movl 16(%esi), %eax
	movl %eax, %cr4
	movl $5, H_RT + R_STAGE
	movl 32(%esi), %eax
	movl %eax, %cr3
	movl $3, H_RT + R_STAGE
	movl 8(%esi), %eax
	movl %eax, %cr0
	DISARM32
	movl 56(%esi), %eax
	movl %eax, H_RT + R_CPL
	movl $0, H_RT + R_CPL + 4
	movl 64(%esi), %eax
	movl %eax, H_RT + R_AC
	movl $0, H_RT + R_AC + 4
	movl $0, H_RT + R_STEP32
	movl $2, %edx
	call diff32

step_loop32:
	movl H_RT + R_RUNOFF, %esi
	addl $H_CMD, %esi
	movl H_RT + R_STEP32, %eax
	cmpl 72(%esi), %eax
	jae teardown32
	imull $STEP_SIZE, %eax, %ebp
	leal RUN_HDR(%esi, %ebp), %ebp
	STEP_DISPATCH32
step_next32:                            /* non-access steps */
	call rec_exc32
	movl $2, %edx
	call diff32
	call slot32
	movl $0, 32(%edi)
	movl $0, 36(%edi)
	movl $-2, 40(%edi)
	movl $-1, 44(%edi)
step_after32:
	incl H_RT + R_STEP32
	jmp step_loop32

/* %edi = the step's result slot */
slot32:
	RESBASE %edi
	movl H_RT + R_STEP32, %eax
	imull $VS_SIZE, %eax, %eax
	leal V_STEPS(%edi, %eax), %edi
	ret

rec_exc32:
	call slot32
	STORE_EXC32
	ret

setup_fail32:
	RESBASE %edi
	movl H_RT + R_EVEC, %eax
	shll $8, %eax
	orl H_RT + R_STAGE, %eax
	movl %eax, V_SETUP(%edi)
	movl $0, V_SETUP + 4(%edi)
	pushl $2
	popfl
	jmp teardown32

teardown32:
	DISARM32
	movl $0x11, %eax                /* paging off */
	movl %eax, %cr0
	movl $SEL_KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movl $H_KSTACK_TOP, %esp
	RESBASE %edi
	movl $2, V_STATUS(%edi)
	movl $0, V_STATUS + 4(%edi)
	/* resume the command list after the vector, as teardown */
	movl H_RT + R_RUNOFF, %esi
	movl H_CMD + 72(%esi), %eax
	imull $STEP_SIZE, %eax, %eax
	leal RUN_HDR(%esi, %eax), %eax
	movl %eax, H_MBOX + MB_CURSOR
	movl $0, H_MBOX + MB_CURSOR + 4
	movl $1, H_MBOX + MB_RESUME
	movl $0, H_MBOX + MB_RESUME + 4
	movl H_MBOX + MB_CUR_LA57, %edi
	jmp enter_long32

/* diff for 32-bit code: %edx = record type (0 access, 1 follow-up, 2
 * none); the step is R_STEP32 */
diff32:
	pushl %ebp
	RESBASE %ebp
	movl H_RT + R_MONOFF, %esi
	addl $H_CMD, %esi
	xorl %ecx, %ecx
1:	cmpl H_RT + R_NMON, %ecx
	jae 9f
	movl (%esi, %ecx, 8), %eax
	movl (%eax), %ebx
	movl 4(%eax), %edi
	cmpl H_MONVAL(, %ecx, 8), %ebx
	jne 2f
	cmpl H_MONVAL + 4(, %ecx, 8), %edi
	je 3f
2:	movl %ebx, H_MONVAL(, %ecx, 8)
	movl %edi, H_MONVAL + 4(, %ecx, 8)
	cmpl $2, %edx
	je 3f
	movl V_NREC(%ebp), %eax
	cmpl H_RT + R_RECCAP, %eax
	jae 4f
	shll $4, %eax
	addl H_RT + R_RECOFF, %eax
	addl %ebp, %eax
	movl %ebx, 8(%eax)
	movl %edi, 12(%eax)
	movl %ecx, %ebx
	shll $16, %ebx
	movl %edx, %edi
	shll $8, %edi
	orl %edi, %ebx
	orl H_RT + R_STEP32, %ebx
	movl %ebx, (%eax)
	movl $0, 4(%eax)
	incl V_NREC(%ebp)
	jmp 3f
4:	orl $1, V_FLAGS(%ebp)
3:	incl %ecx
	jmp 1b
9:	popl %ebp
	ret

/* the end of an access, as acc_done; a fetch's bytes run here (the
 * pattern is not #UD in 32-bit code), so only its own #PF says it failed */
acc_done32:
	/* the bytes a fetch ran may have changed any register (POPA) */
	movl H_RT + R_RUNOFF, %esi
	addl $H_CMD, %esi
	movl H_RT + R_STEP32, %eax
	imull $STEP_SIZE, %eax, %ebp
	leal RUN_HDR(%esi, %ebp), %ebp
	call rec_exc32
	xorl %edx, %edx
	call diff32
	movl H_RT + R_EVEC, %eax
	movl S_KIND(%ebp), %ecx
	andl $3, %ecx
	cmpl $2, %ecx
	jne 1f
	cmpl $14, %eax
	jne fu32
	movl H_RT + R_ECR2, %eax
	cmpl S_A(%ebp), %eax
	jne fu32
	jmp fu_skip32
1:	cmpl $-1, %eax
	je fu32
	cmpl $6, %eax
	je fu32
fu_skip32:
	call slot32
	movl $0, 32(%edi)
	movl $0, 36(%edi)
	movl $-2, 40(%edi)
	movl $-1, 44(%edi)
	jmp step_after32

fu32:
	ARM32 fu_recover32
	pushfl
	orl $0x40000, (%esp)
	popfl
	movl S_A(%ebp), %eax
	andl $-8, %eax
	xorl $8, %eax
	movl (%eax), %ebx
	movl 4(%eax), %esi
	DISARM32
	pushl $2
	popfl
	call slot32
	movl %ebx, 32(%edi)
	movl %esi, 36(%edi)
	movl $-1, 40(%edi)
	movl $-1, 44(%edi)
	jmp 3f
fu_recover32:
	pushl $2
	popfl
	call slot32
	movl $0, 32(%edi)
	movl $0, 36(%edi)
	movl H_RT + R_EVEC, %eax
	movl %eax, 40(%edi)
	movl $0, 44(%edi)
3:	movl $1, %edx
	call diff32
	jmp step_after32

exc_panic32:
	movl $H_MBOX + MB_PANIC, %edi
	STORE_EXC32
	movb $'P', %al
	outb %al, $DEBUGCON_PORT
1:	cli
	hlt
	jmp 1b

#include "../guest/steps32.inc"

	.globl qemu_guest_stubs32
	.set qemu_guest_stubs32, stubs32

#include "../guest/steps.inc"

	.section .note.GNU-stack, "", @progbits
