/*
 * test_schema.c - schema/schema.sql must describe exactly what the embedded
 * migrations build.
 *
 * schema.sql is the commented, canonical form readers consult; the
 * migrations are what servers run.  This test applies both to empty
 * in-memory databases and compares every table and index definition
 * (whitespace and comments aside), so the two cannot drift apart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/migrate.h"
#include "util/util.h"

/* Definitions keyed by name, whitespace collapsed, one per line. */
static char *definitions(sqlite3 *db)
{
	sqlite3_stmt *st;
	util_buf b;
	util_buf_init(&b, 1 << 20);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
					    " AND name != 'schema_migrations' ORDER BY type, name",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *sql = (const char *)sqlite3_column_text(st, 2);
		bool space = false;
		util_buf_printf(&b, "%s %s: ", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
		for (const char *p = sql; *p; p++) {
			if (isspace((unsigned char)*p)) {
				space = true;
				continue;
			}
			if (space && b.len && b.ptr[b.len - 1] != ' ' && b.ptr[b.len - 1] != '(' && *p != ')' && *p != ',')
				util_buf_put(&b, " ", 1);
			space = false;
			util_buf_put(&b, p, 1);
		}
		util_buf_put(&b, "\n", 1);
	}
	sqlite3_finalize(st);
	return util_buf_detach(&b);
}

static void schema_sql_matches_migrations(void **state)
{
	sqlite3 *a = NULL, *b = NULL;
	char *sql = NULL, *err = NULL, *da, *db;
	size_t len;
	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &a), SQLITE_OK);
	assert_int_equal(reg_migrate_apply(a, reg_migrations, reg_migrations_count, NULL), 0);

	assert_int_equal(util_read_file(MLREG_SOURCE_DIR "/schema/schema.sql", 1 << 20, &sql, &len), 0);
	assert_int_equal(sqlite3_open(":memory:", &b), SQLITE_OK);
	if (sqlite3_exec(b, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("schema/schema.sql does not run: %s", err);

	da = definitions(a);
	db = definitions(b);
	assert_true(strlen(da) > 100); /* the comparison is not of two empty sets */
	if (strcmp(da, db) != 0)
		fail_msg("schema/schema.sql differs from the migrations:\n--- migrations\n%s--- schema.sql\n%s", da, db);
	free(da);
	free(db);
	free(sql);
	sqlite3_close(a);
	sqlite3_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(schema_sql_matches_migrations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
