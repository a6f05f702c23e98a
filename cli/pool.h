/*
 * pool.h - run N independent jobs on a few threads (hashing files, HEAD
 * checks, blob uploads and downloads), carrying the first failure's code
 * and message back to the calling thread.
 */
#ifndef MLREG_CLI_POOL_H
#define MLREG_CLI_POOL_H

#include <stddef.h>

/* One job: index in [0, n) and the worker number in [0, nworkers) so a job
 * can use per-worker state such as its own cli_client.  Returns 0 or a
 * negative MLREG_E* code with the message recorded. */
typedef int (*cli_pool_fn)(void *arg, size_t index, int worker);

/* Run fn for every index on min(nworkers, n) threads (inline when that is
 * one).  After the first failure no new job starts; running ones finish.
 * Returns 0 or the first failure's code, its message re-recorded on the
 * calling thread (error messages are thread-local). */
int cli_pool_run(size_t n, int nworkers, cli_pool_fn fn, void *arg);

#endif
