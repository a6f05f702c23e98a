/*
 * upload.c - getting one file into the registry's blob store.
 *
 * Below CLI_UPLOAD_SESSION_MIN a file goes in one `POST /api/v1/blobs?digest=`
 * streamed from disk; retrying it from scratch is cheap.  Larger files use an
 * OCI-style session (POST /uploads, PATCH chunks with Content-Range, PUT
 * ?digest=) because the registry keeps every byte that arrived before a
 * connection dropped: after a failure we ask it for the offset and send only
 * the rest.  The file is always read with pread() by the libcurl read
 * callback, so memory use does not depend on its size.
 *
 * A speculative upload starts a session before the digest is known (push
 * hashes the file on another thread meanwhile) and is either finished with
 * the digest or stopped mid-transfer and deleted when the registry turns
 * out to have the content already.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/upload.h"
#include "util/json.h"

#define CHUNK ((uint64_t)64 << 20)  /* bytes per PATCH */
#define SESSION_TRIES 5
#define SMALL_TRIES 3

static int64_t backoff_ms(int attempt)
{
	int64_t ms = 200LL << (attempt > 5 ? 5 : attempt);
	return ms > 5000 ? 5000 : ms;
}

static int check_answer(const cli_response *resp, const char *digest, uint64_t size)
{
	const char *got = util_json_str(resp->body, "digest");
	int64_t got_size;
	if (!got || strcmp(got, digest) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "registry stored %s for a file with digest %s",
				       got ? got : "an unknown digest", digest);
	if (util_json_i64(resp->body, "size", &got_size) == 0 && (uint64_t)got_size != size)
		return mlreg_error_set(MLREG_EINTEGRITY, "registry stored %lld bytes for %s, expected %llu",
				       (long long)got_size, digest, (unsigned long long)size);
	return 0;
}

static int upload_small(cli_client *c, int fd, uint64_t size, const char *digest, cli_progress *progress)
{
	cli_request req;
	cli_response resp;
	util_buf path;
	int error = 0;
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = util_buf_puts(&path, "/api/v1/blobs")) < 0 ||
	    (error = cli_query_add(&path, "digest", digest)) < 0)
		goto done;
	for (int attempt = 0;; attempt++) {
		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.path = path.ptr;
		req.upload = true;
		req.upload_fd = fd;
		req.upload_len = size;
		req.progress = progress;
		cli_response_release(&resp);
		error = cli_client_do(c, &req, &resp);
		if (error < 0)
			cli_progress_add(progress, -(int64_t)resp.bytes_sent);
		if (error == 0 || !resp.transport_failed || attempt + 1 >= SMALL_TRIES)
			break;
		if ((error = cli_sleep_ms(backoff_ms(attempt))) < 0)
			goto done;
	}
	if (error < 0)
		goto done;
	error = check_answer(&resp, digest, size);
done:
	cli_response_release(&resp);
	util_buf_release(&path);
	return error;
}

/* Ask the registry how many bytes of session `spath` it holds. */
static int session_offset(cli_client *c, const char *spath, uint64_t size, uint64_t *out)
{
	cli_response resp;
	int64_t off;
	int error = cli_client_json(c, "GET", spath, NULL, &resp);
	if (error == 0) {
		if (util_json_i64(resp.body, "offset", &off) < 0 || off < 0 || (uint64_t)off > size)
			error = mlreg_error_set(MLREG_EIO, "registry sent an invalid upload offset");
		else
			*out = (uint64_t)off;
	}
	cli_response_release(&resp);
	return error;
}

/* Is this failure worth another try of the session? */
static bool retryable(const cli_response *resp)
{
	return resp->transport_failed || resp->status == 409 || resp->status == 416 || resp->status == 503;
}

/* PATCH the file into the session from the registry's offset 0.  Returns 0
 * when every byte is in, 1 when *stop ended it first (stop may be NULL), or
 * the error.  *wire (optional) adds the bytes written to connections. */
static int session_send(cli_client *c, int fd, const char *spath, uint64_t size, cli_progress *progress,
			const atomic_bool *stop, uint64_t *wire)
{
	uint64_t offset = 0;
	int failures = 0, error = 0;
	while (offset < size) {
		uint64_t len = size - offset < CHUNK ? size - offset : CHUNK;
		char range[80];
		cli_request req;
		cli_response resp;
		int64_t got;

		snprintf(range, sizeof(range), "Content-Range: bytes %llu-%llu", (unsigned long long)offset,
			 (unsigned long long)(offset + len - 1));
		memset(&req, 0, sizeof(req));
		req.method = "PATCH";
		req.path = spath;
		req.headers[0] = range;
		req.upload = true;
		req.upload_fd = fd;
		req.upload_offset = offset;
		req.upload_len = len;
		req.progress = progress;
		req.stop = stop;
		error = cli_client_do(c, &req, &resp);
		if (wire)
			*wire += resp.bytes_wire;
		if (resp.stopped) {
			cli_response_release(&resp);
			return 1;
		}
		if (error == 0) {
			uint64_t sent = resp.bytes_sent;
			if (util_json_i64(resp.body, "offset", &got) < 0)
				got = (int64_t)(offset + len);
			cli_response_release(&resp);
			if (got <= (int64_t)offset || (uint64_t)got > size)
				return mlreg_error_set(MLREG_EIO, "registry sent an invalid upload offset %lld",
						       (long long)got);
			cli_progress_add(progress, got - (int64_t)(offset + sent));
			offset = (uint64_t)got;
			failures = 0;
			continue;
		}
		cli_progress_add(progress, -(int64_t)resp.bytes_sent);
		if (!retryable(&resp) || ++failures >= SESSION_TRIES) {
			cli_response_release(&resp);
			return error;
		}
		cli_response_release(&resp);
		/* Ask where to resume; a failure to ask counts as a try. */
		for (;;) {
			uint64_t was = offset;
			if (stop && atomic_load(stop))
				return 1;
			if ((error = cli_sleep_ms(backoff_ms(failures - 1))) < 0)
				return error;
			if ((error = session_offset(c, spath, size, &offset)) == 0) {
				cli_progress_add(progress, (int64_t)offset - (int64_t)was);
				break;
			}
			if (mlreg_error_code() != MLREG_EIO || ++failures >= SESSION_TRIES)
				return error;
		}
	}
	return 0;
}

static bool blob_present(cli_client *c, const char *digest)
{
	cli_response resp;
	util_buf path;
	int error;
	util_buf_init(&path, 4096);
	if (util_buf_printf(&path, "/api/v1/blobs/%s", digest) < 0)
		return false;
	error = cli_client_json(c, "HEAD", path.ptr, NULL, &resp);
	cli_response_release(&resp);
	util_buf_release(&path);
	return error == 0;
}

static int session_finish(cli_client *c, const char *spath, const char *digest, uint64_t size)
{
	util_buf path;
	cli_response resp;
	int error = 0;
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 4096);
	if ((error = util_buf_puts(&path, spath)) < 0 || (error = cli_query_add(&path, "digest", digest)) < 0)
		goto done;
	for (int attempt = 0;; attempt++) {
		cli_response_release(&resp);
		error = cli_client_json(c, "PUT", path.ptr, NULL, &resp);
		if (error == 0) {
			error = check_answer(&resp, digest, size);
			break;
		}
		/* The answer to a PUT that did finish may be what got lost:
		 * then the session is gone and the blob is there. */
		if ((resp.transport_failed || resp.status == 404) && attempt > 0 && blob_present(c, digest)) {
			error = 0;
			break;
		}
		if (!resp.transport_failed || attempt + 1 >= SESSION_TRIES)
			break;
		if ((error = cli_sleep_ms(backoff_ms(attempt))) < 0)
			break;
	}
done:
	cli_response_release(&resp);
	util_buf_release(&path);
	return error;
}

/* POST /uploads; the session's path into spath. */
static int session_start(cli_client *c, util_buf *spath)
{
	cli_response resp;
	const char *id;
	char *eid = NULL;
	int error;
	if ((error = cli_client_json(c, "POST", "/api/v1/uploads", NULL, &resp)) < 0)
		goto done;
	id = util_json_str(resp.body, "id");
	if (!id || !*id) {
		error = mlreg_error_set(MLREG_EIO, "registry did not return an upload id");
		goto done;
	}
	if (!(eid = cli_escape(id)) || util_buf_printf(spath, "/api/v1/uploads/%s", eid) < 0)
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
done:
	cli_response_release(&resp);
	free(eid);
	return error;
}

/* Best effort: do not leave a session behind for the sweeper.  Keeps the
 * error being reported (code and message). */
static int session_delete(cli_client *c, const char *spath, int error)
{
	cli_response resp;
	cli_error_saved saved;
	cli_error_save(&saved, error);
	cli_client_json(c, "DELETE", spath, NULL, &resp);
	cli_response_release(&resp);
	return error < 0 ? cli_error_restore(&saved) : error;
}

static int upload_session(cli_client *c, int fd, uint64_t size, const char *digest, cli_progress *progress)
{
	util_buf spath;
	int error;

	util_buf_init(&spath, 4096);
	if ((error = session_start(c, &spath)) < 0)
		goto done;
	if ((error = session_send(c, fd, spath.ptr, size, progress, NULL, NULL)) < 0) {
		error = session_delete(c, spath.ptr, error);
		goto done;
	}
	error = session_finish(c, spath.ptr, digest, size);
done:
	util_buf_release(&spath);
	return error;
}

int cli_upload_blob(cli_client *c, const char *path, uint64_t size, const char *digest,
		    cli_progress *progress)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int error;
	if (fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", path, strerror(errno));
	if (size < CLI_UPLOAD_SESSION_MIN)
		error = upload_small(c, fd, size, digest, progress);
	else
		error = upload_session(c, fd, size, digest, progress);
	close(fd);
	if (error < 0 && error == MLREG_EINTEGRITY)
		return cli_error_wrap(error, "cannot upload '%s' (did it change during the push?)", path);
	if (error < 0)
		return cli_error_wrap(error, "cannot upload '%s'", path);
	return 0;
}

int cli_upload_speculative(cli_client *c, const char *path, uint64_t size, const atomic_bool *stop,
			   cli_upload_resolve_fn resolve, void *arg, cli_progress *progress, uint64_t *wire)
{
	char digest[UTIL_DIGEST_LEN + 1];
	bool keep = false;
	util_buf spath;
	int fd, sent, error;

	*wire = 0;
	util_buf_init(&spath, 4096);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mlreg_error_set(MLREG_EIO, "cannot open '%s': %s", path, strerror(errno));
	if ((error = session_start(c, &spath)) < 0)
		goto done;
	if ((sent = session_send(c, fd, spath.ptr, size, progress, stop, wire)) < 0) {
		error = session_delete(c, spath.ptr, sent);
		goto done;
	}
	if ((error = resolve(arg, digest, &keep)) < 0 || !keep) {
		/* not needed (the registry has it) or unknown (hashing failed) */
		error = session_delete(c, spath.ptr, error < 0 ? error : 1);
		goto done;
	}
	if (sent == 1) {
		error = session_delete(c, spath.ptr, mlreg_error_set(MLREG_ERROR, "upload stopped before its end"));
		goto done;
	}
	error = session_finish(c, spath.ptr, digest, size);
done:
	close(fd);
	util_buf_release(&spath);
	if (error == MLREG_EINTEGRITY)
		return cli_error_wrap(error, "cannot upload '%s' (did it change during the push?)", path);
	if (error < 0)
		return cli_error_wrap(error, "cannot upload '%s'", path);
	return error;
}
