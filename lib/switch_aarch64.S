/* SPDX-License-Identifier: MIT */
/* switch_aarch64.S — raw context switch for aarch64 (AAPCS64).
 *
 * Frame below a suspended context's sp (176 bytes), low to high:
 * x19..x28, x29 (fp), x30 (lr), d8..d15, fpcr.
 *
 * AAPCS64 (6.1.1, 6.1.2) asks a callee to preserve x19-x29, sp and the low
 * 64 bits of v8-v15 (d8-d15; the upper halves are the caller's to save);
 * x30 is where we return to. FPSR (the cumulative exception flags) is not
 * preserved across calls: not saved. FPCR is a "global register": its
 * exception-trap enables (bits 8-12), rounding mode (22-23), flush-to-zero
 * (24) and, from Armv8.7, AH/FIZ (0-1) change only through support
 * functions that set the global FP state of the program (fesetround ...);
 * NEP (2) is zero at every public interface; the rest are reserved. Like
 * glibc keeps that state per thread, we keep it per context: each fiber has
 * its own FPCR (a new one inherits its creator's, see weft__ctx_init), which
 * is what the x86-64 switch does with MXCSR and the x87 control word (there
 * the SysV ABI does call their control bits callee-saved). FPCR is saved
 * and restored whole, so reserved bits come back as read.
 *
 * weft__ctx_init (switch.c) builds the same frame for a new context with
 * lr = trampoline, x19 = entry, x20 = arg, 16-byte aligned.
 * Tested by `make test-cross-arm64` (cross gcc + qemu-user).
 */
#if defined(__aarch64__)

/* Built with -mbranch-protection=bti|standard (a default on some
 * distributions), every object must carry the BTI property or the linker
 * silently drops BTI for the whole program: emit it, with a landing pad
 * ("bti c", a hint: a no-op elsewhere) at each entry. weft__switch is only
 * called directly and the trampoline is entered by ret, neither of which
 * BTI checks: the pads are for callers we do not know. No PAC property: the
 * lr kept in a suspended frame is not signed. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define WEFT_BTI_C hint #34
#define WEFT_GNU_PROPERTY_BTI 1
#else
#define WEFT_BTI_C
#define WEFT_GNU_PROPERTY_BTI 0
#endif

	.text

/* void weft__switch(void **save_sp, void *new_sp)  — x0, x1 */
	.globl	weft__switch
	.hidden	weft__switch
	.type	weft__switch, %function
	.p2align 4
weft__switch:
	.cfi_startproc
	WEFT_BTI_C
	sub	sp, sp, #176
	.cfi_adjust_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	.cfi_rel_offset x29, 80
	.cfi_rel_offset x30, 88
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x10, sp
	str	x10, [x0]
	mov	sp, x1
	ldr	x10, [sp, #160]
	/* writing fpcr can be slow: skip it when both sides agree */
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	.cfi_adjust_cfa_offset -176
	ret
	.cfi_endproc
	.size	weft__switch, .-weft__switch

/* First entry of a new context: x19 = entry, x20 = arg. lr is undefined so
 * that unwinders stop here. */
	.globl	weft__ctx_trampoline
	.hidden	weft__ctx_trampoline
	.type	weft__ctx_trampoline, %function
	.p2align 4
weft__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	WEFT_BTI_C
	mov	x29, #0
	mov	x0, x19
	mov	x1, x20
	bl	weft__ctx_first
	brk	#0	/* weft__ctx_first never returns */
	.cfi_endproc
	.size	weft__ctx_trampoline, .-weft__ctx_trampoline

#if WEFT_GNU_PROPERTY_BTI
	.pushsection .note.gnu.property, "a"
	.p2align 3
	.word	4		/* name size */
	.word	16		/* descriptor size */
	.word	5		/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.word	0xc0000000	/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.word	4
	.word	1		/* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
	.word	0		/* pad to 8 */
	.popsection
#endif
#endif
	.section .note.GNU-stack,"",%progbits
