/*
 * routes_blobs.c - blob upload and download, and resumable upload sessions
 * (the OCI distribution flow: POST to open, PATCH chunks, PUT to finish).
 *
 * Bodies never sit in memory: the sink is opened when the headers arrive
 * (so a bad digest or a gap is refused before any byte is read), every
 * chunk goes straight to the blob store, and only the final commit (fsync,
 * link, database row) runs on a worker thread.  Downloads are sendfile()
 * from the blob's descriptor, with Range and ETag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api/http.h"

static cJSON *digest_answer(const char *digest, uint64_t size)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "digest", digest);
	cJSON_AddNumberToObject(o, "size", (double)size);
	return o;
}

static int check_digest_arg(api_req *q, const char *d)
{
	if (d && !util_digest_valid(d))
		return mlreg_error_set(MLREG_EINVALID, "invalid digest '%s': expected sha256:<64 lowercase hex>", d);
	return 0;
}

int api_blob_sink_open(api_req *q)
{
	int rc = check_digest_arg(q, api_query(q, "digest"));
	if (rc < 0)
		return rc;
	return reg_blob_writer_new(q->srv->reg, &q->blob);
}

static int blob_post(api_req *q)
{
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size;
	reg_blob_writer *w = q->blob;
	int rc;
	q->blob = NULL; /* commit frees it */
	if ((rc = reg_blob_writer_commit(w, api_query(q, "digest"), digest, &size)) < 0)
		return rc;
	return api_reply_json(q, 201, digest_answer(digest, size));
}

static int blob_get(api_req *q)
{
	const char *d = q->params[0];
	int fd, rc;
	uint64_t size;
	if (!util_digest_valid(d))
		return mlreg_error_set(MLREG_EINVALID, "invalid digest '%s': expected sha256:<64 lowercase hex>", d);
	if ((rc = reg_blob_open(q->srv->reg, d, &fd, &size)) < 0)
		return rc;
	return api_reply_fd(q, fd, size, d, NULL);
}

/* ---- upload sessions ---- */
static cJSON *offset_answer(const char *id, uint64_t off)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddNumberToObject(o, "offset", (double)off);
	return o;
}

/* Start offset of a chunk from its Content-Range; -1 when absent.  When
 * both Content-Range and Content-Length are given they must agree, so a
 * chunk never appends more (or less) than it announced. */
static int chunk_start(api_req *q, int64_t *start)
{
	const char *h = api_header(q, "Content-Range"), *cl = api_header(q, MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t end = -1, len;
	*start = -1;
	if (!h)
		return 0;
	if (util_content_range_parse(h, start, &end) < 0)
		return mlreg_error_set(MLREG_EINVALID, "invalid Content-Range '%s'", h);
	if (cl && util_parse_i64(cl, &len) == 0 && len != end - *start + 1)
		return mlreg_error_set(MLREG_EINVALID, "Content-Range '%s' covers %lld bytes but the body has %lld", h,
				       (long long)(end - *start + 1), (long long)len);
	return 0;
}

int api_upload_sink_open(api_req *q)
{
	int64_t start, len;
	uint64_t off = 0;
	const char *cl;
	int rc;
	if ((rc = chunk_start(q, &start)) < 0)
		return rc;
	if (!strcmp(q->route->method, "PUT") && (rc = check_digest_arg(q, api_query(q, "digest"))) < 0)
		return rc;
	if (!strcmp(q->route->method, "PUT") && !api_query(q, "digest"))
		return mlreg_error_set(MLREG_EINVALID, "finishing an upload needs ?digest=sha256:<hex>");
	rc = reg_upload_claim(q->srv->reg, q->params[0], start, &off, &q->upload);
	if (rc == MLREG_ERANGE)
		q->upload_off = (int64_t)off;
	if (rc < 0)
		return rc;
	/* the session plus this body must stay within --max-blob; a body
	 * without a length is cut in server.c when it passes */
	q->sink_base = reg_upload_size(q->upload);
	if ((cl = api_header(q, MHD_HTTP_HEADER_CONTENT_LENGTH)) && util_parse_i64(cl, &len) == 0 && len >= 0 &&
	    q->sink_base + (uint64_t)len > q->srv->cfg.max_blob) {
		reg_upload_release(q->upload);
		q->upload = NULL;
		return mlreg_error_set(MLREG_ETOOBIG, "blob larger than %llu bytes (--max-blob)",
				       (unsigned long long)q->srv->cfg.max_blob);
	}
	return 0;
}

static int upload_create(api_req *q)
{
	char id[33];
	int rc = reg_upload_create(q->srv->reg, id);
	if (rc < 0)
		return rc;
	snprintf(q->location, sizeof(q->location), "/api/v1/uploads/%s", id);
	return api_reply_json(q, 202, offset_answer(id, 0));
}

static int upload_patch(api_req *q)
{
	/* the claim kept every byte; report where the session is now */
	uint64_t off = reg_upload_size(q->upload);
	reg_upload_release(q->upload);
	q->upload = NULL;
	q->upload_off = (int64_t)off;
	return api_reply_json(q, 202, offset_answer(q->params[0], off));
}

static int upload_status(api_req *q)
{
	uint64_t off;
	int rc = reg_upload_offset(q->srv->reg, q->params[0], &off);
	if (rc < 0)
		return rc;
	q->upload_off = (int64_t)off;
	return api_reply_json(q, 200, offset_answer(q->params[0], off));
}

static int upload_put(api_req *q)
{
	char digest[UTIL_DIGEST_LEN + 1];
	uint64_t size;
	reg_upload *u = q->upload;
	int rc;
	q->upload = NULL; /* finish frees it */
	if ((rc = reg_upload_finish(u, api_query(q, "digest"), digest, &size)) < 0)
		return rc;
	return api_reply_json(q, 201, digest_answer(digest, size));
}

static int upload_delete(api_req *q)
{
	int rc = reg_upload_cancel(q->srv->reg, q->params[0]);
	if (rc < 0)
		return rc;
	q->resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	q->status = 204;
	return 0;
}

const api_route api_routes_blobs[] = {
	{"POST", "api/v1/blobs", blob_post, REG_PERM_WRITE, API_STREAM_BLOB, "/api/v1/blobs"},
	{"GET", "api/v1/blobs/{}", blob_get, REG_PERM_PULL, API_INLINE, "/api/v1/blobs/{digest}"},
	{"POST", "api/v1/blobs/{}/url", api_blob_url_mint, REG_PERM_PULL, API_INLINE, "/api/v1/blobs/{digest}/url"},
	{"POST", "api/v1/uploads", upload_create, REG_PERM_WRITE, API_INLINE, "/api/v1/uploads"},
	{"PATCH", "api/v1/uploads/{}", upload_patch, REG_PERM_WRITE, API_STREAM_UPLOAD, "/api/v1/uploads/{id}"},
	{"GET", "api/v1/uploads/{}", upload_status, REG_PERM_WRITE, API_INLINE, "/api/v1/uploads/{id}"},
	{"PUT", "api/v1/uploads/{}", upload_put, REG_PERM_WRITE, API_STREAM_UPLOAD, "/api/v1/uploads/{id}"},
	{"DELETE", "api/v1/uploads/{}", upload_delete, REG_PERM_WRITE, API_WORKER, "/api/v1/uploads/{id}"},
	{NULL, NULL, NULL, 0, 0, NULL},
};
