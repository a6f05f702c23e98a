/*
 * client.h - the CLI's HTTP client for the registry REST API (docs/api.md),
 * a thin wrapper over one libcurl easy handle.
 *
 * A cli_client belongs to one thread at a time; parallel transfers create one
 * client per worker.  Every request answers with a cli_response holding the
 * HTTP status and the parsed JSON body; registry error bodies
 * `{"error":{"code","message"}}` are turned into MLREG_E* codes here, once.
 */
#ifndef MLREG_CLI_CLIENT_H
#define MLREG_CLI_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "cli/cli.h"
#include "cli/progress.h"
#include "util/util.h"

typedef struct cli_client cli_client;

typedef struct {
	long status;            /* HTTP status; 0 when no answer arrived (transport failure) */
	cJSON *body;            /* parsed JSON body, NULL when empty or not JSON */
	const cJSON *error;     /* the "error" object of an error answer, borrowed from body */
	const char *error_code; /* its "code" ("not_found", "blob_unknown", ...), borrowed */
	uint64_t bytes_sent;    /* streamed upload bytes handed to libcurl */
	uint64_t bytes_wire;    /* upload bytes libcurl wrote to the connection */
	bool transport_failed;  /* no answer: connection refused or dropped, timeout;
				 * worth retrying (unlike a local read failure) */
	bool stopped;           /* the request's `stop` flag ended it (not an error
				 * of the registry or the network) */
} cli_response;

/* One request.  Zero-initialise, then fill what applies. */
typedef struct {
	const char *method;       /* GET (default), HEAD, POST, PUT, PATCH, DELETE */
	const char *path;         /* "/api/v1/...", escaped, with query */
	const cJSON *json;        /* JSON body, or NULL */
	const char *headers[4];   /* extra "Name: value" lines, NULL-terminated */

	/* Streamed upload: upload_len bytes of upload_fd from upload_offset.
	 * The file is read in chunks, never held in memory. */
	int upload_fd;            /* -1 (or 0 with upload=false) for none */
	bool upload;
	uint64_t upload_offset;
	uint64_t upload_len;

	/* Streamed download of a 2xx body into download_fd; more than
	 * download_max bytes aborts the transfer with MLREG_EINTEGRITY.  After
	 * each write, on_written (when set) is told the total written so far,
	 * on the transfer's thread (pull hashes the file behind the writer). */
	bool download;
	int download_fd;
	uint64_t download_max;
	void (*on_written)(void *arg, uint64_t total);
	void *on_written_arg;

	/* Set by another thread to end the transfer at once (the response
	 * then has `stopped` set); NULL when the request cannot be stopped. */
	const atomic_bool *stop;

	cli_progress *progress;   /* counts streamed bytes, may be NULL */
	int64_t timeout_ms;       /* 0: the configured default; <0: none (stall limit only) */
} cli_request;

/* Create a client for cfg (borrowed, must outlive the client).
 * Errors: MLREG_ENOMEM, MLREG_ERROR when libcurl cannot start. */
int cli_client_new(cli_client **out, const cli_config *cfg);
/* Free the client; NULL is a no-op. */
void cli_client_free(cli_client *c);

/* Perform req.  Returns 0 on a 2xx answer.  Otherwise returns the code of the
 * failure with its message recorded: the registry's error code mapped to
 * MLREG_E* (message from the server when it sent one), or MLREG_EIO with the
 * libcurl message when no answer arrived (resp->status == 0).  resp is
 * filled whenever an answer arrived and must always be released. */
int cli_client_do(cli_client *c, const cli_request *req, cli_response *resp);

/* Shorthand for a JSON request without streaming; body may be NULL. */
int cli_client_json(cli_client *c, const char *method, const char *path, const cJSON *body,
		    cli_response *resp);

void cli_response_release(cli_response *r);

/* GET path (which may carry a query already) page after page, following
 * "next_page_token", and gather the elements of the array member `key`
 * into *out (a new array the caller deletes).  Errors as cli_client_do,
 * plus MLREG_EIO when the registry repeats a page token. */
int cli_client_get_all(cli_client *c, const char *path, const char *key, cJSON **out);

/* Percent-encode s as one URL path segment or query value ("risk/fraud" ->
 * "risk%2Ffraud").  Returns a heap string the caller frees, NULL on OOM. */
char *cli_escape(const char *s);

/* Append "?key=value" or "&key=value" (value escaped) to a path buffer. */
int cli_query_add(util_buf *path, const char *key, const char *value);

/* Build "/api/v1/models/<escaped model><suffix>" into b (released first). */
int cli_model_path(util_buf *b, const char *model, const char *suffix);
/* Build "/api/v1/models/<escaped model>/versions/<ref><suffix>" into b,
 * <ref> being the version number, the stage name or "@alias". */
int cli_version_path(util_buf *b, const util_ref *ref, const char *suffix);

/* The shared start of commands on one version (show, deprecate, rm): parse
 * exactly one REF into *refs (borrowed from argv) -- any REF for GET, a
 * MODEL:VERSION for other methods, as the registry wants -- send
 * `method` to the version's path + suffix, and put the answer in *resp,
 * which the caller releases in every case.  Errors are wrapped as
 * "cannot <command> 'REF'". */
int cli_version_request(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv, const char *method,
			const char *suffix, cli_response *resp, const char **refs);

#endif
