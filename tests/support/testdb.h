/*
 * testdb.h - what the C tests that open a database of their own share
 * (tests/unit, tests/symbolize): removing it afterwards and reading one
 * integer from it. Linked as kc_testdb; for cmocka tests only (a failed
 * query fails the running test).
 */
#ifndef KC_TESTDB_H
#define KC_TESTDB_H

#include <stdint.h>

#include "sql.h"

/* Removes the SQLite database file PATH and its -wal and -shm companions;
 * missing ones are fine. */
void kc_test_rm_db(const char *path);

/* The one integer SQL answers on DB (-1 when it returns no row); a failed
 * query fails the running cmocka test. */
int64_t kc_test_count(struct kc_sql *db, const char *sql);

#endif
