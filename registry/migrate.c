/*
 * migrate.c - forward-only schema migrations.
 *
 * The migrations are compiled into the binary (scripts/embed_migrations.cmake)
 * so a server can never run against SQL files from another build.  Each runs
 * in its own transaction and is recorded; the highest recorded number is
 * also the refusal test for databases written by a newer mlreg, which we
 * must not touch because we cannot know what their columns mean.
 */
#include <stdio.h>
#include <string.h>
#include "registry/migrate.h"
#include "util/util.h"

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		int rc = mlreg_error_set(MLREG_EIO, "migration failed: %s", err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return rc;
	}
	return 0;
}

int reg_migrate_apply(sqlite3 *db, const reg_migration *list, int n, int *applied)
{
	sqlite3_stmt *st = NULL;
	int current = 0, rc, count = 0;
	if ((rc = exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			   " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")) < 0)
		return rc;
	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version),0) FROM schema_migrations", -1, &st, NULL) != SQLITE_OK)
		return mlreg_error_set(MLREG_EIO, "cannot read schema version: %s", sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		current = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n > 0 && current > list[n - 1].number)
		return mlreg_error_set(MLREG_ENEWER,
				       "database is at schema version %d, written by a newer mlreg; this mlreg knows up to %d: upgrade mlreg",
				       current, list[n - 1].number);
	for (int i = 0; i < n; i++) {
		const reg_migration *mg = &list[i];
		bool fk_off = strstr(mg->sql, "-- mlreg:foreign-keys-off") != NULL;
		if (mg->number <= current)
			continue;
		if (fk_off && (rc = exec(db, "PRAGMA foreign_keys=OFF")) < 0)
			return rc;
		if ((rc = exec(db, "BEGIN IMMEDIATE")) < 0)
			goto fail_fk;
		if ((rc = exec(db, mg->sql)) < 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", mlreg_error_last());
			rc = mlreg_error_set(MLREG_EIO, "migration %04d_%s: %s", mg->number, mg->name, msg);
			goto fail;
		}
		if (fk_off) {
			bool bad;
			if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
				rc = mlreg_error_set(MLREG_EIO, "foreign_key_check failed: %s", sqlite3_errmsg(db));
				goto fail;
			}
			bad = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_finalize(st);
			if (bad) {
				rc = mlreg_error_set(MLREG_EIO, "migration %04d_%s leaves foreign key violations", mg->number, mg->name);
				goto fail;
			}
		}
		if (sqlite3_prepare_v2(db, "INSERT INTO schema_migrations(version,name,applied_at) VALUES(?,?,?)", -1, &st, NULL) != SQLITE_OK) {
			rc = mlreg_error_set(MLREG_EIO, "cannot record migration: %s", sqlite3_errmsg(db));
			goto fail;
		}
		sqlite3_bind_int(st, 1, mg->number);
		sqlite3_bind_text(st, 2, mg->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, util_now_ms());
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mlreg_error_set(MLREG_EIO, "cannot record migration: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		if (rc < 0)
			goto fail;
		if ((rc = exec(db, "COMMIT")) < 0)
			goto fail;
		if (fk_off && (rc = exec(db, "PRAGMA foreign_keys=ON")) < 0)
			return rc;
		count++;
	}
	if (count > 0 && current > 0)
		LOG_INFO("database migrated from schema version %d to %d (%d migration%s applied)", current,
			 list[n - 1].number, count, count == 1 ? "" : "s");
	else if (count > 0)
		LOG_INFO("new database created at schema version %d", list[n - 1].number);
	if (applied)
		*applied = count;
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail_fk:
	sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	return rc;
}
