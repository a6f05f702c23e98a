/*
 * progress.h - one-line progress bar on stderr for push and pull, shared by
 * the transfer threads.  Disabled (every call a no-op but the counting) when
 * stderr is not a terminal or -q was given.
 */
#ifndef MLREG_CLI_PROGRESS_H
#define MLREG_CLI_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	pthread_mutex_t mu;
	bool enabled;
	const char *label;     /* "push", "pull"; borrowed */
	uint64_t total;
	int64_t done;
	int64_t start_ms;
	int64_t last_draw_ms;
} cli_progress;

/* Start counting towards total bytes; draws only when enabled. */
void cli_progress_init(cli_progress *p, const char *label, uint64_t total, bool enabled);
/* Add (or, for a rewound transfer, subtract) bytes; thread-safe. */
void cli_progress_add(cli_progress *p, int64_t delta);
/* Change the total (a transfer that turned out not to be needed leaves
 * it); thread-safe. */
void cli_progress_add_total(cli_progress *p, int64_t delta);
/* Erase the bar and release the mutex. */
void cli_progress_release(cli_progress *p);

/* Should push/pull draw a bar: stderr is a terminal and not quiet. */
bool cli_progress_wanted(bool quiet);

#endif
