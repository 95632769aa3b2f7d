/*
 * testdb.c - helpers of the C tests that make their own database
 * (testdb.h): one place for the file clean-up and the integer query that
 * the store, SQL, import and label index tests each carried.
 */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "err.h"

void kc_test_rm_db(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char p[4096];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
}

int64_t kc_test_count(struct kc_sql *db, const char *sql)
{
	struct kc_err err;
	int64_t n = -1;

	if (kc_db_get_int(db, sql, -1, &n, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
	return n;
}
