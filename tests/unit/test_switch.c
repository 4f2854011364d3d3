/* SPDX-License-Identifier: MIT */
/* test_switch.c — the machine context switch (lib/switch.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "switch.h"

#define STACK_SIZE (256 * 1024)

static struct weft__ctx main_ctx, fib_ctx, fib2_ctx;

static void *stack_new(void)
{
	void *p = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

/* Run entry on a fresh stack as fib_ctx until it ends. */
static void *start_fiber(struct weft__ctx *c, void (*entry)(void *), void *arg)
{
	void *st = stack_new();
	weft__ctx_init_thread(&main_ctx);
	assert_int_equal(weft__ctx_init(c, st, STACK_SIZE, entry, arg), 0);
	return st;
}

static void end_fiber(struct weft__ctx *c, void *st)
{
	weft__ctx_done(c);
	weft__ctx_done(&main_ctx);
	munmap(st, STACK_SIZE);
}

/* ---- ping-pong ----------------------------------------------------------- */

static void pingpong_fiber(void *arg)
{
	long *n = arg;
	for (;;) {
		++*n;
		if (*n < 0)
			break;
		weft__ctx_switch(&fib_ctx, &main_ctx);
	}
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_pingpong(void **state)
{
	long n = 0;
	void *st = start_fiber(&fib_ctx, pingpong_fiber, &n);
	for (long i = 1; i <= 100000; i++) {
		weft__ctx_switch(&main_ctx, &fib_ctx);
		assert_int_equal(n, i); /* the fiber ran exactly once per switch */
	}
	n = -10; /* make it end */
	weft__ctx_switch(&main_ctx, &fib_ctx);
	assert_int_equal(n, -9);
	end_fiber(&fib_ctx, st);
}

/* Two fibers and the thread in a ring: main -> f1 -> f2 -> main. */
static void ring_fiber2(void *arg)
{
	long *n = arg;
	for (int i = 0; i < 1000; i++) {
		*n += 2;
		weft__ctx_switch(&fib2_ctx, &main_ctx);
	}
	weft__ctx_switch_final(&fib2_ctx, &main_ctx);
}

static void ring_fiber1(void *arg)
{
	long *n = arg;
	for (int i = 0; i < 1000; i++) {
		*n += 1;
		weft__ctx_switch(&fib_ctx, &fib2_ctx);
	}
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_ring(void **state)
{
	long n = 0;
	void *st1 = start_fiber(&fib_ctx, ring_fiber1, &n);
	void *st2 = stack_new();
	assert_int_equal(weft__ctx_init(&fib2_ctx, st2, STACK_SIZE, ring_fiber2, &n), 0);
	for (int i = 1; i <= 1000; i++) {
		weft__ctx_switch(&main_ctx, &fib_ctx);
		assert_int_equal(n, 3 * i);
	}
	weft__ctx_switch(&main_ctx, &fib_ctx); /* f1 ends */
	weft__ctx_switch(&main_ctx, &fib2_ctx); /* f2 ends */
	weft__ctx_done(&fib2_ctx);
	munmap(st2, STACK_SIZE);
	end_fiber(&fib_ctx, st1);
}

/* ---- callee-saved registers ---------------------------------------------- */

/* regs_switch(from, to, in, out): load in[] into the callee-saved
 * registers, switch, store them into out[] once resumed. Assembly, because
 * C cannot pin values in callee-saved registers across a call.
 * x86-64 (SysV): rbx, rbp, r12-r15. aarch64 (AAPCS64): x19-x28, x29 and the
 * low 64 bits of v8-v15 (d8-d15); x30 and sp are checked by coming back at
 * all and by out[NREGS] / out[NREGS + 1] = sp before / after the switch. */
void regs_switch(struct weft__ctx *from, struct weft__ctx *to, const uint64_t *in, uint64_t *out);
/* weft__ctx_switch may be inline: give the assembly a real function to call */
__attribute__((noinline, used)) void regs_ctx_switch(struct weft__ctx *from, struct weft__ctx *to)
{
	weft__ctx_switch(from, to);
}
#if defined(__x86_64__)
#define NREGS 6
__asm__(".text\n.globl regs_switch\n.type regs_switch,@function\nregs_switch:\n"
	"push %rbp\npush %rbx\npush %r12\npush %r13\npush %r14\npush %r15\npush %rcx\n"
	"mov %rsp,48(%rcx)\n"
	"mov 0(%rdx),%rbx\nmov 8(%rdx),%rbp\nmov 16(%rdx),%r12\n"
	"mov 24(%rdx),%r13\nmov 32(%rdx),%r14\nmov 40(%rdx),%r15\n"
	"call regs_ctx_switch\n"
	"mov (%rsp),%rcx\nmov %rsp,56(%rcx)\n"
	"pop %rcx\n"
	"mov %rbx,0(%rcx)\nmov %rbp,8(%rcx)\nmov %r12,16(%rcx)\n"
	"mov %r13,24(%rcx)\nmov %r14,32(%rcx)\nmov %r15,40(%rcx)\n"
	"pop %r15\npop %r14\npop %r13\npop %r12\npop %rbx\npop %rbp\nret\n");
#elif defined(__aarch64__)
/* in/out: x19..x28 [0..9], x29 [10], d8..d15 [11..18]. x29 holds a
 * non-pointer while regs_ctx_switch runs: nothing unwinds meanwhile. */
#define NREGS 19
__asm__(".text\n.globl regs_switch\n.type regs_switch,%function\nregs_switch:\n"
	"sub sp, sp, #176\n"
	"stp x19, x20, [sp, #0]\nstp x21, x22, [sp, #16]\nstp x23, x24, [sp, #32]\n"
	"stp x25, x26, [sp, #48]\nstp x27, x28, [sp, #64]\nstp x29, x30, [sp, #80]\n"
	"stp d8, d9, [sp, #96]\nstp d10, d11, [sp, #112]\nstp d12, d13, [sp, #128]\n"
	"stp d14, d15, [sp, #144]\nstr x3, [sp, #160]\n"
	"mov x9, sp\nstr x9, [x3, #152]\n"
	"ldp x19, x20, [x2, #0]\nldp x21, x22, [x2, #16]\nldp x23, x24, [x2, #32]\n"
	"ldp x25, x26, [x2, #48]\nldp x27, x28, [x2, #64]\nldr x29, [x2, #80]\n"
	"ldp d8, d9, [x2, #88]\nldp d10, d11, [x2, #104]\nldp d12, d13, [x2, #120]\n"
	"ldp d14, d15, [x2, #136]\n"
	"bl regs_ctx_switch\n"
	"ldr x3, [sp, #160]\n"
	"stp x19, x20, [x3, #0]\nstp x21, x22, [x3, #16]\nstp x23, x24, [x3, #32]\n"
	"stp x25, x26, [x3, #48]\nstp x27, x28, [x3, #64]\nstr x29, [x3, #80]\n"
	"stp d8, d9, [x3, #88]\nstp d10, d11, [x3, #104]\nstp d12, d13, [x3, #120]\n"
	"stp d14, d15, [x3, #136]\n"
	"mov x9, sp\nstr x9, [x3, #160]\n"
	"ldp x19, x20, [sp, #0]\nldp x21, x22, [sp, #16]\nldp x23, x24, [sp, #32]\n"
	"ldp x25, x26, [sp, #48]\nldp x27, x28, [sp, #64]\nldp x29, x30, [sp, #80]\n"
	"ldp d8, d9, [sp, #96]\nldp d10, d11, [sp, #112]\nldp d12, d13, [sp, #128]\n"
	"ldp d14, d15, [sp, #144]\n"
	"add sp, sp, #176\nret\n");
#endif

static uint64_t fib_in[NREGS], fib_out[NREGS + 2];

static void regs_fiber(void *arg)
{
	for (int i = 0; i < NREGS; i++)
		fib_in[i] = 0xf1b0000000000000ull + i;
	regs_switch(&fib_ctx, &main_ctx, fib_in, fib_out);
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_callee_saved(void **state)
{
	uint64_t in[NREGS], out[NREGS + 2];
	for (int i = 0; i < NREGS; i++)
		in[i] = 0x3a1e000000000000ull + 0x1111 * (i + 1);
	void *st = start_fiber(&fib_ctx, regs_fiber, NULL);
	regs_switch(&main_ctx, &fib_ctx, in, out); /* the fiber loads other values, comes back */
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(out[NREGS], out[NREGS + 1]); /* same sp after the switch */
	memset(fib_out, 0, sizeof(fib_in)); /* not the sp slots: the fiber stored one */
	weft__ctx_switch(&main_ctx, &fib_ctx); /* the fiber resumes inside regs_switch, ends */
	assert_memory_equal(fib_in, fib_out, sizeof(fib_in));
	assert_int_equal(fib_out[NREGS], fib_out[NREGS + 1]);
	assert_true(fib_out[NREGS] > (uintptr_t)st && fib_out[NREGS] < (uintptr_t)st + STACK_SIZE);
	end_fiber(&fib_ctx, st);
}

/* ---- FP control and FP values -------------------------------------------- */

static int fib_round_seen;

static void round_fiber(void *arg)
{
	fib_round_seen = fegetround();
	fesetround(FE_UPWARD);
	weft__ctx_switch(&fib_ctx, &main_ctx);
	fib_round_seen = fegetround();
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_fp_control(void **state)
{
#if defined(WEFT_SWITCH_NO_FPCW) && defined(__x86_64__)
	skip(); /* built without FP control word switching */
#endif
	void *st = start_fiber(&fib_ctx, round_fiber, NULL); /* created under FE_TONEAREST */
	fesetround(FE_TOWARDZERO);
	weft__ctx_switch(&main_ctx, &fib_ctx);
	assert_int_equal(fib_round_seen, FE_TONEAREST); /* ours did not leak in */
	assert_int_equal(fegetround(), FE_TOWARDZERO);   /* FE_UPWARD did not leak out */
	volatile double one = 1.0, three = 3.0;
	volatile double third_tz = one / three; /* volatile: gcc moves FP ops across fesetround */
	fesetround(FE_UPWARD);
	volatile double third_up = one / three;
	assert_true(third_tz < third_up); /* the SSE unit was really toward-zero */
	fesetround(FE_DOWNWARD);
	weft__ctx_switch(&main_ctx, &fib_ctx);
	assert_int_equal(fib_round_seen, FE_UPWARD); /* restored on resume */
	assert_int_equal(fegetround(), FE_DOWNWARD);
	fesetround(FE_TONEAREST);
	end_fiber(&fib_ctx, st);
}

#if defined(__x86_64__)
/* fesetround writes both the x87 control word and MXCSR: change each one alone,
 * so that a switch that forgot one (or restored one from the other) fails. */
static uint32_t get_mxcsr(void)
{
	uint32_t v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}
static void set_mxcsr(uint32_t v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }
static uint16_t get_fcw(void)
{
	uint16_t v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}
static void set_fcw(uint16_t v) { __asm__ volatile("fldcw %0" : : "m"(v)); }

#define MXCSR_CONTROL 0xffc0u /* the masks, rounding, FTZ and DAZ; below are the flags */
#define MXCSR_RZ_FTZ 0xe000u  /* round toward zero + flush to zero */
#define FCW_PC_SINGLE 0x0300u /* x87 precision control bits (0: single) */

struct fpcase {
	const char *name;
	bool mxcsr;           /* the fiber changes MXCSR; else the x87 control word */
};
static const struct fpcase *fp_case;
static uint32_t fib_mxcsr_seen[2];
static uint16_t fib_fcw_seen[2];

static void fp_alone_fiber(void *arg)
{
	fib_mxcsr_seen[0] = get_mxcsr() & MXCSR_CONTROL;
	fib_fcw_seen[0] = get_fcw();
	if (fp_case->mxcsr)
		set_mxcsr(get_mxcsr() | MXCSR_RZ_FTZ);
	else
		set_fcw(get_fcw() & ~FCW_PC_SINGLE);
	weft__ctx_switch(&fib_ctx, &main_ctx);
	fib_mxcsr_seen[1] = get_mxcsr() & MXCSR_CONTROL;
	fib_fcw_seen[1] = get_fcw();
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_fp_control_apart(void **state)
{
#if defined(WEFT_SWITCH_NO_FPCW)
	skip(); /* built without FP control word switching */
#endif
	static const struct fpcase cases[] = {
		{ "MXCSR alone", true },
		{ "x87 control word alone", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fp_case = &cases[i];
		uint32_t mx = get_mxcsr();
		uint16_t cw = get_fcw();
		void *st = start_fiber(&fib_ctx, fp_alone_fiber, NULL);
		weft__ctx_switch(&main_ctx, &fib_ctx);
		/* the fiber began with its creator's words, and its change stayed with it */
		assert_int_equal(fib_mxcsr_seen[0], mx & MXCSR_CONTROL);
		assert_int_equal(fib_fcw_seen[0], cw);
		assert_int_equal(get_mxcsr() & MXCSR_CONTROL, mx & MXCSR_CONTROL);
		assert_int_equal(get_fcw(), cw);
		weft__ctx_switch(&main_ctx, &fib_ctx);
		/* on resume it has its own words back, and only the one it changed differs */
		if (fp_case->mxcsr) {
			assert_int_equal(fib_mxcsr_seen[1], (mx | MXCSR_RZ_FTZ) & MXCSR_CONTROL);
			assert_int_equal(fib_fcw_seen[1], cw);
		} else {
			assert_int_equal(fib_mxcsr_seen[1], mx & MXCSR_CONTROL);
			assert_int_equal(fib_fcw_seen[1], cw & ~FCW_PC_SINGLE);
		}
		assert_int_equal(get_mxcsr() & MXCSR_CONTROL, mx & MXCSR_CONTROL);
		assert_int_equal(get_fcw(), cw);
		end_fiber(&fib_ctx, st);
	}
}
#endif

static double float_result;

static double series(int n, bool yield)
{
	double s = 0, p = 1.5;
	for (int i = 1; i <= n; i++) {
		s += sqrt((double)i) * p / (i + 0.25);
		p = -p;
		if (yield)
			weft__ctx_switch(&fib_ctx, &main_ctx);
	}
	return s;
}

static void float_fiber(void *arg)
{
	float_result = series(500, true);
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_float_across_switches(void **state)
{
	void *st = start_fiber(&fib_ctx, float_fiber, NULL);
	volatile double noise = 0.1;
	for (int i = 0; i <= 500; i++) {
		weft__ctx_switch(&main_ctx, &fib_ctx);
		noise = noise * 1.7 + sin(noise); /* clobber FP registers meanwhile */
	}
	assert_true(float_result == series(500, false));
	end_fiber(&fib_ctx, st);
}

#if defined(__aarch64__)
/* ---- the whole FPCR (aarch64) ---------------------------------------------
 * AAPCS64 6.1.2: FPCR is a global register whose exception-control (8-12),
 * rounding-mode (22-23) and flush-to-zero (24) bits (and AH/FIZ, 0-1, on
 * Armv8.7) change only through support functions that set the global state
 * of the application; NEP (2) is zero at every public interface; other bits
 * are reserved. A fiber is its own thread of execution for <fenv.h>, so the
 * switch keeps one FPCR per context (as MXCSR/x87 CW on x86-64), and a new
 * fiber starts with its creator's. Here: RMode and FZ, with FZ proven to
 * take effect (a subnormal result is flushed to 0 or not). */
#define FPCR_FZ (1u << 24)
#define FPCR_RM(m) ((uint64_t)(m) << 22) /* 0 nearest, 1 +inf, 2 -inf, 3 zero */
#define FPCR_MASK (FPCR_FZ | FPCR_RM(3))

static uint64_t fpcr_get(void)
{
	uint64_t v;
	__asm__ volatile("mrs %0, fpcr" : "=r"(v)::"memory");
	return v;
}

static void fpcr_set(uint64_t v)
{
	__asm__ volatile("msr fpcr, %0" ::"r"(v) : "memory");
}

/* A quarter of the smallest normal double: subnormal, 0 under FZ. */
static bool flushes(void)
{
	volatile double tiny = 2.2250738585072014e-308, q;
	q = tiny / 4;
	return q == 0;
}

static uint64_t fpcr_fib_seen[2];
static bool fpcr_fib_flushed[2];

static void fpcr_fiber(void *arg)
{
	fpcr_fib_seen[0] = fpcr_get() & FPCR_MASK;
	fpcr_fib_flushed[0] = flushes();
	fpcr_set(FPCR_RM(1));
	weft__ctx_switch(&fib_ctx, &main_ctx);
	fpcr_fib_seen[1] = fpcr_get() & FPCR_MASK;
	fpcr_fib_flushed[1] = flushes();
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_fpcr(void **state)
{
	uint64_t saved = fpcr_get();
	fpcr_set(FPCR_FZ | FPCR_RM(2));
	void *st = start_fiber(&fib_ctx, fpcr_fiber, NULL); /* inherits FZ, round down */
	fpcr_set(0);
	weft__ctx_switch(&main_ctx, &fib_ctx);
	assert_int_equal(fpcr_fib_seen[0], FPCR_FZ | FPCR_RM(2));
	assert_true(fpcr_fib_flushed[0]);
	assert_int_equal(fpcr_get() & FPCR_MASK, 0); /* the fiber's round-up stayed there */
	assert_false(flushes());
	fpcr_set(FPCR_FZ | FPCR_RM(3));
	weft__ctx_switch(&main_ctx, &fib_ctx);
	assert_int_equal(fpcr_fib_seen[1], FPCR_RM(1)); /* its own FPCR on resume */
	assert_false(fpcr_fib_flushed[1]);
	assert_int_equal(fpcr_get() & FPCR_MASK, FPCR_FZ | FPCR_RM(3));
	assert_true(flushes());
	fpcr_set(saved);
	end_fiber(&fib_ctx, st);
}
#endif

/* ---- stack alignment at first entry and after resuming --------------------
 * sp_at_call() returns the caller's stack pointer at the call instruction,
 * which the ABI requires to be 16-byte aligned on both architectures (the
 * compiler keeps it so relative to the entry it was given: a trampoline that
 * got it wrong shows here). */
uintptr_t sp_at_call(void);
#if defined(__x86_64__)
__asm__(".text\n.globl sp_at_call\n.type sp_at_call,@function\nsp_at_call:\n"
	"lea 8(%rsp), %rax\nret\n");
#elif defined(__aarch64__)
__asm__(".text\n.globl sp_at_call\n.type sp_at_call,%function\nsp_at_call:\n"
	"mov x0, sp\nret\n");
#endif

static uintptr_t align_sp[2];

static void align_fiber(void *arg)
{
	align_sp[0] = sp_at_call();
	weft__ctx_switch(&fib_ctx, &main_ctx);
	align_sp[1] = sp_at_call();
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_stack_alignment(void **state)
{
	void *st = start_fiber(&fib_ctx, align_fiber, NULL);
	weft__ctx_switch(&main_ctx, &fib_ctx);
	weft__ctx_switch(&main_ctx, &fib_ctx);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(align_sp[i] % 16, 0);
		assert_true(align_sp[i] > (uintptr_t)st && align_sp[i] < (uintptr_t)st + STACK_SIZE);
	}
	assert_true(sp_at_call() % 16 == 0);
	end_fiber(&fib_ctx, st);
}

/* ---- deep recursion on a fiber stack ------------------------------------- */

static __attribute__((noinline)) unsigned long recurse(int depth)
{
	volatile unsigned char buf[256];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(depth + i);
	if (depth == 0)
		return buf[7];
	unsigned long r = recurse(depth - 1);
	return r + buf[depth % sizeof(buf)];
}

static unsigned long recurse_result;

static void recurse_fiber(void *arg)
{
	/* ~300 bytes+ per frame (more under ASan): 400 frames use most of 256 KiB with ASan */
	recurse_result = recurse(400);
	weft__ctx_switch_final(&fib_ctx, &main_ctx);
}

static void test_deep_recursion(void **state)
{
	void *st = start_fiber(&fib_ctx, recurse_fiber, NULL);
	weft__ctx_switch(&main_ctx, &fib_ctx);
	assert_int_equal(recurse_result, recurse(400));
	end_fiber(&fib_ctx, st);
}

/* ---- timing (printed, never asserted: see DESIGN.md "Benchmarks") --------- */

void weft__switch(void **save_sp, void *new_sp);
static void *raw_main_sp, *raw_fib_sp;

static void raw_fiber(void *arg)
{
	for (;;)
		weft__switch(&raw_fib_sp, raw_main_sp);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void test_timing(void **state)
{
	enum { N = 2000000 };
	long n = 0;
	void *st = start_fiber(&fib_ctx, pingpong_fiber, &n);
	double t0 = now_ns();
	for (int i = 0; i < N; i++)
		weft__ctx_switch(&main_ctx, &fib_ctx);
	double t1 = now_ns();
#if defined(WEFT_SAN_ADDRESS) || defined(WEFT_SAN_THREAD)
	/* The raw switch skips the sanitizer hooks, which they would notice. */
	printf("switch_ns(ctx) %.2f ns (sanitizer build)\n", (t1 - t0) / (2.0 * N));
	end_fiber(&fib_ctx, st);
	return;
#endif
	/* Raw switch without sanitizer hooks: reuse the stack; the fiber above
	 * is abandoned (fine: no sanitizer bookkeeping when they are off). */
	struct weft__ctx raw;
	assert_int_equal(weft__ctx_init(&raw, st, STACK_SIZE, raw_fiber, NULL), 0);
	raw_fib_sp = raw.sp;
	double t2 = now_ns();
	for (int i = 0; i < N; i++)
		weft__switch(&raw_main_sp, raw_fib_sp);
	double t3 = now_ns();
	printf("switch_ns(ctx) %.2f ns\nswitch_ns(raw) %.2f ns\n", (t1 - t0) / (2.0 * N), (t3 - t2) / (2.0 * N));
	weft__ctx_done(&raw);
	end_fiber(&fib_ctx, st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pingpong),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_callee_saved),
		cmocka_unit_test(test_fp_control),
#if defined(__x86_64__)
		cmocka_unit_test(test_fp_control_apart),
#endif
		cmocka_unit_test(test_float_across_switches),
#if defined(__aarch64__)
		cmocka_unit_test(test_fpcr),
#endif
		cmocka_unit_test(test_stack_alignment),
		cmocka_unit_test(test_deep_recursion),
		cmocka_unit_test(test_timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
