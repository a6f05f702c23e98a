/*
 * signed_url.c - signed blob URLs on the registry side: the key file, the
 * check that lets `GET /api/v1/blobs/{digest}?expires=&sig=` through
 * without a token, and `POST /api/v1/blobs/{digest}/url` that mints one.
 *
 * The key is read from its file on every use (32 bytes, a page-cache hit):
 * replacing the file rotates the key at once, in every process serving the
 * data folder, with no signal or restart, and every URL signed under the
 * old key stops working.  The key and signatures never reach a log line or
 * an error message.  Minting is a read, not a mutation (it changes no
 * state and a pull token could read the blob anyway), so it is not audited,
 * like the blob reads it stands for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "api/http.h"
#include "util/blob_url.h"
#include "util/json.h"

#define DEFAULT_TTL_MS (15 * 60 * 1000)

int api_url_key_init(api_server *s)
{
	struct stat st;
	unsigned char key[32];
	if (s->cfg.url_key_file) {
		if (!(s->url_key_path = strdup(s->cfg.url_key_file)))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	} else if (asprintf(&s->url_key_path, "%s/url.key", s->cfg.data_dir) < 0) {
		s->url_key_path = NULL;
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	if (stat(s->url_key_path, &st) == 0) {
		if (st.st_mode & 077)
			LOG_WARN("signed URL key %s is readable by group or others (mode %03o): chmod 600 it",
				 s->url_key_path, (unsigned)(st.st_mode & 0777));
		return 0;
	}
	if (errno != ENOENT)
		return mlreg_error_set(MLREG_EIO, "signed URL key %s: %s", s->url_key_path, strerror(errno));
	if (s->cfg.url_key_file)
		return mlreg_error_set(MLREG_EIO, "--url-key-file %s: no such file", s->url_key_path);
	if (RAND_bytes(key, sizeof(key)) != 1)
		return mlreg_error_set(MLREG_ERROR, "cannot draw random bytes for the signed URL key");
	if (util_write_file_atomic(s->url_key_path, key, sizeof(key), 0600) < 0) {
		OPENSSL_cleanse(key, sizeof(key));
		return mlreg_error_set(MLREG_EIO, "cannot write signed URL key %s: %s", s->url_key_path,
				       mlreg_error_last());
	}
	OPENSSL_cleanse(key, sizeof(key));
	LOG_INFO("first start: signed URL key written to %s (mode 0600)", s->url_key_path);
	return 0;
}

/* The key's bytes (caller wipes and frees); MLREG_EIO when unreadable or
 * shorter than UTIL_BLOB_URL_MIN_KEY. */
static int load_key(api_server *s, char **key, size_t *len)
{
	if (util_read_file(s->url_key_path, 4096, key, len) < 0) {
		LOG_ERROR("signed URL key %s cannot be read: %s", s->url_key_path, mlreg_error_last());
		return mlreg_error_set(MLREG_EIO, "the signed URL key cannot be read");
	}
	if (*len < UTIL_BLOB_URL_MIN_KEY) {
		OPENSSL_cleanse(*key, *len);
		free(*key);
		LOG_ERROR("signed URL key %s holds %zu bytes, fewer than %d", s->url_key_path, *len, UTIL_BLOB_URL_MIN_KEY);
		return mlreg_error_set(MLREG_EIO, "the signed URL key is too short");
	}
	return 0;
}

static void drop_key(char *key, size_t len)
{
	OPENSSL_cleanse(key, len);
	free(key);
}

int api_signed_url_check(api_req *q)
{
	const char *exp, *sig;
	char *key;
	size_t klen;
	int rc;
	if (strcmp(q->route->pattern, "api/v1/blobs/{}") != 0 || api_header(q, MHD_HTTP_HEADER_AUTHORIZATION))
		return 0;
	exp = api_query(q, "expires");
	sig = api_query(q, "sig");
	if (!exp && !sig)
		return 0;
	if (load_key(q->srv, &key, &klen) < 0)
		return MLREG_EFORBIDDEN;
	rc = util_blob_url_verify(key, klen, q->params[0], exp, sig, (int64_t)time(NULL));
	drop_key(key, klen);
	if (rc < 0) {
		LOG_DEBUG("signed URL refused: %s", mlreg_error_last());
		return MLREG_EFORBIDDEN;
	}
	return 1;
}

int api_blob_url_mint(api_req *q)
{
	const char *d = q->params[0], *ttl_s;
	cJSON *body = NULL, *o;
	int64_t ttl = DEFAULT_TTL_MS, expires;
	uint64_t size;
	char sig[65], *key, *url, when[40];
	size_t klen;
	int rc;
	if (!util_digest_valid(d))
		return mlreg_error_set(MLREG_EINVALID, "invalid digest '%s': expected sha256:<64 lowercase hex>", d);
	if (q->body.len && (rc = api_body_json(q, &body)) < 0) /* no body: the default ttl */
		return rc;
	if (body && !cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return mlreg_error_set(MLREG_EINVALID, "body must be a JSON object such as {\"ttl\":\"15m\"}");
	}
	ttl_s = body ? util_json_str(body, "ttl") : NULL;
	if (body && cJSON_GetObjectItem(body, "ttl") && !ttl_s) {
		cJSON_Delete(body);
		return mlreg_error_set(MLREG_EINVALID, "ttl must be a duration string such as \"15m\"");
	}
	if (ttl_s && (util_duration_ms(ttl_s, &ttl) < 0 || ttl < 1000)) {
		cJSON_Delete(body);
		return mlreg_error_set(MLREG_EINVALID, "invalid ttl: expected a duration of at least 1s such as \"15m\"");
	}
	cJSON_Delete(body);
	if (ttl > q->srv->cfg.url_max_ttl_ms)
		return mlreg_error_set(MLREG_EINVALID, "ttl longer than the server allows (--url-max-ttl, %lld s)",
				       (long long)(q->srv->cfg.url_max_ttl_ms / 1000));
	if ((rc = reg_blob_stat(q->srv->reg, d, &size)) < 0)
		return rc;
	expires = (int64_t)time(NULL) + (ttl + 999) / 1000;
	if ((rc = load_key(q->srv, &key, &klen)) < 0)
		return rc;
	rc = util_blob_url_sign(key, klen, d, expires, sig);
	drop_key(key, klen);
	if (rc < 0)
		return rc;
	if (asprintf(&url, "/api/v1/blobs/%s?expires=%lld&sig=%s", d, (long long)expires, sig) < 0)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	util_time_format(expires * 1000, when, sizeof(when));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "url", url);
	cJSON_AddStringToObject(o, "expires_at", when);
	cJSON_AddNumberToObject(o, "expires", (double)expires);
	cJSON_AddStringToObject(o, "digest", d);
	cJSON_AddNumberToObject(o, "size", (double)size);
	free(url);
	return api_reply_json(q, 200, o);
}
