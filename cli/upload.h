/*
 * upload.h - sending one file's bytes to the registry as a blob, either in
 * one streamed POST or through a resumable upload session.
 */
#ifndef MLREG_CLI_UPLOAD_H
#define MLREG_CLI_UPLOAD_H

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

#endif
