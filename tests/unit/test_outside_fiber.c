/* SPDX-License-Identifier: MIT */
/* test_outside_fiber.c — "fiber only" calls made outside any fiber (weft/sync.h, chan.h,
 * event.h, clock.h): each one that would have to park returns -EPERM at once and leaves
 * its object as it was; those that need not park work as anywhere (issue 18: a cond wait
 * outside a fiber answered 0 under make mutate and no test saw it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <weft/weft.h>

static void test_sync_outside_fiber(void **state)
{
	(void)state;
	weft_mutex m;
	weft_cond c;
	weft_sem s;
	weft_rwmutex rw;

	weft_mutex_init(&m);
	weft_cond_init(&c);
	assert_int_equal(weft_cond_wait(NULL, &c, &m), -EPERM); /* would park */
	assert_int_equal(weft_mutex_lock(NULL, &m), 0);         /* free: no park */
	assert_int_equal(weft_mutex_lock(NULL, &m), -EPERM);    /* held: would park */
	assert_int_equal(weft_cond_wait(NULL, &c, &m), -EPERM);
	assert_int_equal(weft_mutex_unlock(&m), 0);               /* still held by us */
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), 0);

	weft_sem_init(&s, 2);
	assert_int_equal(weft_sem_acquire(NULL, &s, 2), 0);
	assert_int_equal(weft_sem_acquire(NULL, &s, 1), -EPERM);
	assert_int_equal(weft_sem_release(&s, 2), 0);
	assert_int_equal(weft_sem_try_acquire(&s, 2), 0);         /* nothing was taken */
	assert_int_equal(weft_sem_release(&s, 2), 0);

	weft_rwmutex_init(&rw);
	assert_int_equal(weft_rwmutex_rlock(NULL, &rw), 0);
	assert_int_equal(weft_rwmutex_lock(NULL, &rw), -EPERM);
	assert_int_equal(weft_rwmutex_runlock(&rw), 0);
	assert_int_equal(weft_rwmutex_try_lock(&rw), 0);
	assert_int_equal(weft_rwmutex_unlock(&rw), 0);
}

static void test_wait_outside_fiber(void **state)
{
	(void)state;
	weft_chan *ch;
	weft_event ev;
	int v = 7;

	assert_int_equal(weft_chan_new(sizeof(int), 0, &ch), 0);
	assert_int_equal(weft_chan_send(NULL, ch, &v), -EPERM);  /* no receiver: would park */
	assert_int_equal(weft_chan_recv(NULL, ch, &v), -EPERM);
	assert_int_equal(weft_chan_len(ch), 0);
	weft_chan_unref(ch);

	weft_event_init(&ev);
	assert_int_equal(weft_event_wait(NULL, &ev), -EPERM);
	assert_int_equal(weft_event_set(&ev, 5), 1); /* nobody registered on it */
	assert_int_equal(weft_sleep(NULL, WEFT_MSEC), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_outside_fiber),
		cmocka_unit_test(test_wait_outside_fiber),
	};
	return cmocka_run_group_tests_name("outside a fiber", tests, NULL, NULL);
}
