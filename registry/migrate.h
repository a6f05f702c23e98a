/*
 * migrate.h - forward-only schema migrations embedded at build time.
 */
#ifndef MLREG_REGISTRY_MIGRATE_H
#define MLREG_REGISTRY_MIGRATE_H

typedef struct {
	int number;
	const char *name;
	const char *sql;
} reg_migration;

extern const reg_migration reg_migrations[];
extern const int reg_migrations_count;



#include <sqlite3.h>

/* Bring db forward through list[0..n) (ascending numbers): each pending
 * migration runs in its own BEGIN IMMEDIATE transaction and is recorded in
 * schema_migrations.  A migration whose text contains the marker
 * "-- mlreg:foreign-keys-off" runs with foreign keys off (for a table
 * rebuild) and must leave PRAGMA foreign_key_check empty, else it is rolled
 * back.  A database already past list's last number is refused with
 * MLREG_ENEWER.  *applied (optional) counts what ran. */
int reg_migrate_apply(sqlite3 *db, const reg_migration *list, int n, int *applied);
#endif
