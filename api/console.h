/*
 * console.h - the web console's files, embedded in the server at build time
 * (scripts/embed_assets.cmake writes the table from the console folder).
 */
#ifndef MLREG_API_CONSOLE_H
#define MLREG_API_CONSOLE_H

#include <stddef.h>

typedef struct {
	const char *name;  /* "app.js": a file name, no folder */
	const char *type;  /* Content-Type */
	const char *etag;  /* quoted: "\"<sha256 hex>\"" */
	const char *data;
	size_t len;
} api_asset;

/* Every embedded file, then an entry with name NULL. */
extern const api_asset api_console_assets[];

#endif
