/*
 * upload.h - sending one file's bytes to the registry as a blob, either in
 * one streamed POST or through a resumable upload session.
 */
#ifndef MLREG_CLI_UPLOAD_H
#define MLREG_CLI_UPLOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "cli/client.h"

/* Files at or past this size go through a resumable upload session. */
#define CLI_UPLOAD_SESSION_MIN ((uint64_t)32 << 20)

/* Upload the file at path, which must hold `size` bytes hashing to `digest`
 * (checked by the registry, which refuses other bytes with 400 integrity).
 * Small files are one streamed POST retried on transport failures; large
 * ones use an upload session that resumes from the registry's offset after
 * a dropped connection (up to 5 tries with backoff; 409 busy retries too).
 * Returns 0, or MLREG_EINTEGRITY when the bytes did not match, MLREG_EIO
 * after the retries, or the registry's error. */
int cli_upload_blob(cli_client *c, const char *path, uint64_t size, const char *digest,
		    cli_progress *progress);

/* Learn the digest of a speculative upload once its bytes are sent or it
 * was stopped (waiting for the hash when needed): the digest into digest,
 * and *keep whether the registry needs this copy.  Returns 0 or an error. */
typedef int (*cli_upload_resolve_fn)(void *arg, char digest[UTIL_DIGEST_LEN + 1], bool *keep);

/* Upload the file at path (`size` bytes) through a session before its
 * digest is known.  Bytes flow until the file is sent or another thread
 * sets *stop; then resolve() names the digest and whether to keep the
 * upload: finish it with PUT ?digest= (the registry checks the bytes) or
 * delete the session.  *wire counts the bytes written to connections,
 * which for a deleted session is what speculating cost.  Returns 0 when
 * uploaded, 1 when the session was deleted as not needed, or an error
 * (the session deleted, best effort): resolve's, MLREG_EINTEGRITY when
 * the bytes did not match the digest, or as cli_upload_blob.  Files of any
 * size may be sent this way; push uses it from CLI_UPLOAD_SESSION_MIN. */
int cli_upload_speculative(cli_client *c, const char *path, uint64_t size, const atomic_bool *stop,
			   cli_upload_resolve_fn resolve, void *arg, cli_progress *progress, uint64_t *wire);

#endif
