/*
 * test_migrate.c - unit tests for registry/migrate.c on in-memory SQLite
 * databases: migrations apply in order and are recorded, a re-run applies
 * nothing, a database from a newer mlreg is refused untouched, and a
 * foreign-keys-off table rebuild must leave no dangling reference or it is
 * rolled back.
 *
 * The migration lists are small SQL fixtures written here; the last test
 * runs the real embedded list so a broken migrations/ file fails at unit
 * level too.
 */
#include "testutil.h"
#include "registry/migrate.h"

static sqlite3 *open_db(void)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	/* as the real store does: foreign keys enforced */
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static bool table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	bool found;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static const reg_migration base[] = {
	{1, "parents", "CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
		       "INSERT INTO parent VALUES(1,'p1'),(2,'p2');"},
	{2, "children", "CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));"
			"INSERT INTO child VALUES(10,1),(11,2);"},
	{5, "index", "CREATE INDEX child_parent ON child(parent_id);"},
};

static void applies_in_order_and_records(void **state)
{
	sqlite3 *db = open_db();
	sqlite3_stmt *st = NULL;
	int applied = -1, i = 0;
	static const int want_num[] = {1, 2, 5};
	static const char *want_name[] = {"parents", "children", "index"};
	assert_int_equal(reg_migrate_apply(db, base, 3, &applied), 0);
	assert_int_equal(applied, 3);
	assert_true(table_exists(db, "parent"));
	assert_true(table_exists(db, "child"));
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='child_parent'"), 1);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(i < 3);
		assert_int_equal(sqlite3_column_int(st, 0), want_num[i]);
		assert_string_equal((const char *)sqlite3_column_text(st, 1), want_name[i]);
		assert_true(sqlite3_column_int64(st, 2) > 0);
		i++;
	}
	sqlite3_finalize(st);
	assert_int_equal(i, 3);
	sqlite3_close(db);
}

static void rerun_is_idempotent(void **state)
{
	sqlite3 *db = open_db();
	int applied = -1;
	assert_int_equal(reg_migrate_apply(db, base, 3, &applied), 0);
	assert_int_equal(reg_migrate_apply(db, base, 3, &applied), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM schema_migrations"), 3);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM parent"), 2); /* inserts not repeated */
	assert_int_equal(reg_migrate_apply(db, base, 3, NULL), 0);      /* applied is optional */
	sqlite3_close(db);
}

static void applies_only_what_is_pending(void **state)
{
	sqlite3 *db = open_db();
	int applied = -1;
	assert_int_equal(reg_migrate_apply(db, base, 1, &applied), 0);
	assert_int_equal(applied, 1);
	assert_false(table_exists(db, "child"));
	assert_int_equal(reg_migrate_apply(db, base, 3, &applied), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(query_int(db, "SELECT MAX(version) FROM schema_migrations"), 5);
	sqlite3_close(db);
}

static void refuses_newer_database(void **state)
{
	sqlite3 *db = open_db();
	int applied = -1;
	assert_int_equal(reg_migrate_apply(db, base, 3, NULL), 0);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES(9,'future',1)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(reg_migrate_apply(db, base, 3, &applied), MLREG_ENEWER);
	assert_int_equal(applied, -1);
	assert_non_null(strstr(mlreg_error_last(), "newer"));
	/* a shorter list (an older mlreg) is refused the same way */
	sqlite3_exec(db, "DELETE FROM schema_migrations WHERE version=9", NULL, NULL, NULL);
	assert_int_equal(reg_migrate_apply(db, base, 2, &applied), MLREG_ENEWER);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM schema_migrations"), 3);
	sqlite3_close(db);
}

static void failing_migration_is_rolled_back(void **state)
{
	const reg_migration list[] = {
		base[0],
		{2, "broken", "CREATE TABLE half(x); INSERT INTO parent VALUES(3,'p3'); SELEC nonsense;"},
		{3, "after", "CREATE TABLE after_broken(x);"},
	};
	sqlite3 *db = open_db();
	int applied = -1;
	assert_int_equal(reg_migrate_apply(db, list, 3, &applied), MLREG_EIO);
	assert_non_null(strstr(mlreg_error_last(), "0002_broken"));
	assert_true(table_exists(db, "parent")); /* migration 1 committed */
	assert_false(table_exists(db, "half"));  /* migration 2 left no trace */
	assert_false(table_exists(db, "after_broken"));
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM parent"), 2);
	assert_int_equal(query_int(db, "SELECT MAX(version) FROM schema_migrations"), 1);
	assert_true(sqlite3_get_autocommit(db)); /* no transaction left open */
	sqlite3_close(db);
}

/* SQLite's 12-step table rebuild: new table, copy, drop, rename. */
static const char rebuild_sql[] =
	"-- mlreg:foreign-keys-off\n"
	"CREATE TABLE parent_new(id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');\n"
	"INSERT INTO parent_new(id,name) SELECT id,name FROM parent;\n"
	"DROP TABLE parent;\n"
	"ALTER TABLE parent_new RENAME TO parent;\n";

static void foreign_keys_off_rebuild_passes(void **state)
{
	const reg_migration list[] = {base[0], base[1], {3, "rebuild_parent", rebuild_sql}};
	sqlite3 *db = open_db();
	int applied = -1;
	assert_int_equal(reg_migrate_apply(db, list, 3, &applied), 0);
	assert_int_equal(applied, 3);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM parent WHERE note=''"), 2);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM child"), 2);
	/* foreign keys are back on, and still point at the rebuilt table */
	assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
	assert_int_not_equal(sqlite3_exec(db, "INSERT INTO child VALUES(12,99)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void dangling_foreign_key_is_rolled_back(void **state)
{
	static const char dangling_sql[] =
		"-- mlreg:foreign-keys-off\n"
		"CREATE TABLE parent_new(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
		"INSERT INTO parent_new SELECT id,name FROM parent WHERE id<>2;\n" /* loses the row child 11 needs */
		"DROP TABLE parent;\n"
		"ALTER TABLE parent_new RENAME TO parent;\n";
	const reg_migration list[] = {base[0], base[1], {3, "lossy_rebuild", dangling_sql}};
	sqlite3 *db = open_db();
	int applied = -1;
	assert_int_equal(reg_migrate_apply(db, base, 2, NULL), 0);
	assert_int_equal(reg_migrate_apply(db, list, 3, &applied), MLREG_EIO);
	assert_non_null(strstr(mlreg_error_last(), "foreign key"));
	assert_int_equal(applied, -1);
	/* nothing of migration 3 applied: parent row 2 is still there */
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM parent"), 2);
	assert_int_equal(query_int(db, "SELECT COUNT(*) FROM parent WHERE id=2"), 1);
	assert_false(table_exists(db, "parent_new"));
	assert_int_equal(query_int(db, "SELECT MAX(version) FROM schema_migrations"), 2);
	assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
	assert_true(sqlite3_get_autocommit(db));
	sqlite3_close(db);
}

static void embedded_migrations_apply_cleanly(void **state)
{
	sqlite3 *db = open_db();
	int applied = -1;
	assert_true(reg_migrations_count > 0);
	for (int i = 1; i < reg_migrations_count; i++)
		assert_true(reg_migrations[i].number > reg_migrations[i - 1].number);
	assert_int_equal(reg_migrate_apply(db, reg_migrations, reg_migrations_count, &applied), 0);
	assert_int_equal(applied, reg_migrations_count);
	assert_true(table_exists(db, "tokens"));
	assert_true(table_exists(db, "audit_log"));
	assert_true(table_exists(db, "blobs"));
	assert_int_equal(query_int(db, "SELECT MAX(version) FROM schema_migrations"),
			 reg_migrations[reg_migrations_count - 1].number);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(reg_migrate_apply(db, reg_migrations, reg_migrations_count, &applied), 0);
	assert_int_equal(applied, 0);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(applies_in_order_and_records),
		cmocka_unit_test(rerun_is_idempotent),
		cmocka_unit_test(applies_only_what_is_pending),
		cmocka_unit_test(refuses_newer_database),
		cmocka_unit_test(failing_migration_is_rolled_back),
		cmocka_unit_test(foreign_keys_off_rebuild_passes),
		cmocka_unit_test(dangling_foreign_key_is_rolled_back),
		cmocka_unit_test(embedded_migrations_apply_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
