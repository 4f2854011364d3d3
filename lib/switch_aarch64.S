/* switch_aarch64.S — raw context switch for aarch64 (AAPCS64).
 *
 * Frame below a suspended context's sp (176 bytes), low to high:
 * x19..x28, x29 (fp), x30 (lr), d8..d15, fpcr. Those are what AAPCS64 asks
 * a callee to preserve (FPCR holds the rounding mode, like MXCSR on x86).
 * weft__ctx_init (switch.c) builds the same frame for a new context with
 * lr = trampoline, x19 = entry, x20 = arg.
 */
#if defined(__aarch64__)

	.text

/* void weft__switch(void **save_sp, void *new_sp)  — x0, x1 */
	.globl	weft__switch
	.hidden	weft__switch
	.type	weft__switch, %function
	.p2align 4
weft__switch:
	.cfi_startproc
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
	mov	x29, #0
	mov	x0, x19
	mov	x1, x20
	bl	weft__ctx_first
	brk	#0	/* weft__ctx_first never returns */
	.cfi_endproc
	.size	weft__ctx_trampoline, .-weft__ctx_trampoline

#endif
	.section .note.GNU-stack,"",%progbits
