/* SPDX-License-Identifier: MIT */
/* The daemon's id map: insert, find, duplicates, remove, growth, keys that are not hex. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/idmap.h"

struct item {
	char key[24];
	struct weftd_idmap_node n;
};

static void test_basic(void **state)
{
	struct weftd_idmap m;
	struct item a = { .key = "00000000000000a1" }, b = { .key = "c1" }, dup = { .key = "c1" };

	assert_int_equal(weftd_idmap_init(&m, 3), 0);
	assert_int_equal(m.nbuckets, 16); /* rounded up, at least 16 */
	weftd_idmap_node_init(&a.n, a.key, strlen(a.key));
	weftd_idmap_node_init(&b.n, b.key, strlen(b.key));
	weftd_idmap_node_init(&dup.n, dup.key, strlen(dup.key));
	assert_int_equal(weftd_idmap_insert(&m, &a.n), 0);
	assert_int_equal(weftd_idmap_insert(&m, &b.n), 0);
	assert_int_equal(weftd_idmap_insert(&m, &dup.n), -EEXIST);
	assert_int_equal(m.count, 2);
	weftd_idmap_remove(&m, &dup.n); /* refused, so not in: a no-op */
	assert_int_equal(m.count, 2);
	assert_ptr_equal(weftd_idmap_get(&m, "c1", 2), &b.n);
	assert_ptr_equal(weftd_idmap_get(&m, a.key, 16), &a.n);
	assert_null(weftd_idmap_get(&m, "c", 1));   /* a prefix is another key */
	assert_null(weftd_idmap_get(&m, "c10", 3));
	weftd_idmap_remove(&m, &b.n);
	assert_null(weftd_idmap_get(&m, "c1", 2));
	assert_int_equal(weftd_idmap_insert(&m, &dup.n), 0);
	assert_ptr_equal(weftd_idmap_get(&m, "c1", 2), &dup.n);
	weftd_idmap_done(&m);
	weftd_idmap_done(&m); /* twice: safe */
	assert_null(weftd_idmap_get(&m, "c1", 2)); /* a done map is empty */
}

static void test_many(void **state)
{
	enum { N = 5000 };
	static struct item it[N];
	struct weftd_idmap m;

	assert_int_equal(weftd_idmap_init(&m, 16), 0);
	for (int i = 0; i < N; i++) {
		/* half counter-like hex ids, half free-form ones */
		snprintf(it[i].key, sizeof(it[i].key), i % 2 ? "%016x" : "job-%d", i);
		weftd_idmap_node_init(&it[i].n, it[i].key, strlen(it[i].key));
		assert_int_equal(weftd_idmap_insert(&m, &it[i].n), 0);
	}
	assert_true(m.nbuckets >= N); /* grew */
	for (int i = 0; i < N; i++)
		assert_ptr_equal(weftd_idmap_get(&m, it[i].key, strlen(it[i].key)), &it[i].n);
	for (int i = 0; i < N; i += 3)
		weftd_idmap_remove(&m, &it[i].n);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(weftd_idmap_get(&m, it[i].key, strlen(it[i].key)),
				 i % 3 ? &it[i].n : NULL);
	weftd_idmap_done(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic), cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
