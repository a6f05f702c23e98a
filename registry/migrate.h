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

#endif
