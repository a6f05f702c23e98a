/*
 * util.h - small shared helpers: bounded buffers, SHA-256 and digests,
 * filesystem durability, names and refs, logging, durations.
 *
 * Everything here is dependency-light (OpenSSL for hashing, cJSON for JSON)
 * and used by registry/, api/, cli/ and node/ alike, so nothing is written
 * twice.
 */
#ifndef MLREG_UTIL_H
#define MLREG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include "mlreg/error.h"

#define MLREG_VERSION_STRING "0.1.0"

/* ---- bounded growable buffer (curl dynbuf style) ---- */
typedef struct {
	char *ptr;   /* NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;  /* appends past this fail with MLREG_ETOOBIG */
} util_buf;

void util_buf_init(util_buf *b, size_t max);
void util_buf_release(util_buf *b);
int util_buf_put(util_buf *b, const void *data, size_t len);
int util_buf_puts(util_buf *b, const char *s);
int util_buf_printf(util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the string to the caller (who frees it) and reset the buffer. */
char *util_buf_detach(util_buf *b);

/* ---- hashing ---- */
#define UTIL_DIGEST_LEN 71 /* "sha256:" + 64 hex */
typedef struct util_sha256 util_sha256;
util_sha256 *util_sha256_new(void);
void util_sha256_update(util_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (UTIL_DIGEST_LEN+1 bytes) and frees h. */
void util_sha256_final(util_sha256 *h, char out[UTIL_DIGEST_LEN + 1]);
void util_sha256_free(util_sha256 *h);
/* An independent copy of a running hash (NULL on failure). */
util_sha256 *util_sha256_dup(const util_sha256 *h);
void util_sha256_buf(const void *data, size_t len, char out[UTIL_DIGEST_LEN + 1]);
/* Raw 64-hex digest of data, no prefix. */
void util_sha256_hex(const void *data, size_t len, char out[65]);
/* Lowercase hex HMAC-SHA256 of data under key (OpenSSL HMAC).  Returns 0;
 * MLREG_EINVALID for a key past INT_MAX bytes, MLREG_ERROR when OpenSSL
 * fails (out is then untouched). */
int util_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t len, char out[65]);
/* Hash an open fd from its current position to EOF; size optional. */
int util_sha256_fd(int fd, char out[UTIL_DIGEST_LEN + 1], uint64_t *size);
int util_sha256_file(const char *path, char out[UTIL_DIGEST_LEN + 1], uint64_t *size);
/* True when s is exactly "sha256:" followed by 64 lowercase hex digits. */
bool util_digest_valid(const char *s);
/* Random bytes as lowercase hex (2*n chars + NUL into out). */
int util_random_hex(char *out, size_t nbytes);
/* Random URL-safe token body (base64url without padding) of nbytes entropy. */
int util_random_token(char *out, size_t outsz, size_t nbytes);
bool util_consttime_eq(const char *a, const char *b);

/* ---- network addresses (net.c) ---- */
struct sockaddr;
/* True when sa is an address a webhook must not reach from the server:
 * loopback, RFC 1918, CGNAT (100.64/10), link-local, unique-local,
 * unspecified, multicast, broadcast and reserved (240/4) ranges, site-local
 * fec0::/10, and IPv6 forms that embed an IPv4 address (mapped, compatible,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) judged by that address.  NULL and
 * families other than AF_INET/AF_INET6 are true: unknown means refused. */
bool util_addr_is_private(const struct sockaddr *sa);
/* Numeric text of sa's address ("10.0.0.1", "::1") into out; "?" when it
 * cannot be printed. */
void util_addr_format(const struct sockaddr *sa, char *out, size_t outsz);

/* ---- filesystem ---- */
int util_mkdir_p(const char *path, mode_t mode);
int util_fsync_dir(const char *dir);
/* fsync the folder holding path. */
int util_fsync_parent(const char *path);
/* Write data to path via temp file + fsync + rename + fsync dir. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Read at most max bytes of a file into a NUL-terminated heap string. */
int util_read_file(const char *path, size_t max, char **out, size_t *len);
/* The same from an open descriptor, from its position to EOF. */
int util_read_fd(int fd, size_t max, char **out, size_t *len);
/* Read a secret (a token) from a file of at most 4 KiB, without the
 * surrounding whitespace.  MLREG_ENOTFOUND when the file is missing,
 * MLREG_EINVALID when what is left is empty or holds spaces or control
 * characters. */
int util_read_token_file(const char *path, char **out);
int util_write_all(int fd, const void *data, size_t len);
/* Remove a directory tree (no following of links); missing is fine. */
int util_rm_rf(const char *path);

/* ---- names, paths and refs ---- */
#define UTIL_NAME_MAX 255
/* OCI repository grammar: [a-z0-9]+([._-][a-z0-9]+)* joined by '/'. */
bool util_model_name_valid(const char *name);
/* Stage/alias: [a-z][a-z0-9-]*, not "latest", at most 63. */
bool util_label_name_valid(const char *name);
/* A node or deployment name: one OCI name component
 * ([a-z0-9]+([._-][a-z0-9]+)*), at most 63 - a deployment's name is the
 * model name its nodes serve it under, so it must be one for them too. */
bool util_resource_name_valid(const char *name);
/* A label value of a node or a selector: 1 to 63 of [A-Za-z0-9._-]. */
bool util_label_value_valid(const char *value);
/* A dataset URI: scheme://…, 1 to 2048 RFC 3986 characters. */
bool util_uri_valid(const char *s);
/* A training run id: 1 to 256 of letters, digits and ._:/@+=- */
bool util_run_id_valid(const char *s);
/* Tag/metric/param key: [A-Za-z0-9_.-/]{1,250}, starts alnum or '_'. */
bool util_key_valid(const char *key);
/* Manifest path: relative, '/'-separated, no empty, '.' or '..' segments,
 * no backslash or control chars, at most 4096 bytes. */
bool util_manifest_path_valid(const char *path);

typedef enum { UTIL_REF_VERSION, UTIL_REF_STAGE, UTIL_REF_ALIAS } util_ref_kind;
typedef struct {
	char model[UTIL_NAME_MAX + 1];
	util_ref_kind kind;
	int64_t version;       /* for UTIL_REF_VERSION */
	char label[64];        /* stage or alias */
} util_ref;
/* Parse MODEL:VERSION, MODEL:STAGE or MODEL@ALIAS. */
int util_ref_parse(const char *s, util_ref *out);

/* ---- durations and numbers ---- */
/* "500ms", "30s", "5m", "1h", "2d"; a bare number is seconds. */
int util_duration_ms(const char *s, int64_t *out_ms);
/* The largest exact unit: 86400000 -> "1d", 5400000 -> "90m", 1500 -> "1500ms". */
void util_duration_format(int64_t ms, char *out, size_t outsz);
int util_parse_i64(const char *s, int64_t *out);
int util_parse_double(const char *s, double *out);
int64_t util_now_ms(void);
/* Exponential backoff with jitter, one formula for webhook retries and the
 * controller's per-node backoff: milliseconds to wait after failed attempt
 * number attempt (1-based): min(base * 2^(attempt-1), max) scaled by
 * 0.5 + 0.5*r, where r in [0, 1] is the caller's random draw (clamped; NaN
 * counts as 0).  Never overflows; at least 1. */
int64_t util_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t attempt, double r);
/* RFC 3339 UTC with milliseconds into out (>= 32 bytes). */
void util_time_format(int64_t ms, char *out, size_t outsz);
/* Parse RFC 3339 ("2026-11-28T10:00:00Z", fraction optional) or a duration
 * meaning "that long ago". */
int util_time_parse(const char *s, int64_t *out_ms);

/* ---- HTTP byte ranges (range.c) ---- */
/* A Range request header against a resource of `size` bytes: 1 with the
 * satisfiable single range in *from and *len, 0 to answer with the whole
 * resource (absent, multi-range or not understood, as RFC 9110 allows),
 * MLREG_ERANGE when it cannot be satisfied. */
int util_range_parse(const char *header, uint64_t size, uint64_t *from, uint64_t *len);
/* First and last byte of an upload chunk's Content-Range ("bytes a-b" with
 * an optional total, or the OCI form "a-b"); MLREG_EINVALID when malformed. */
int util_content_range_parse(const char *header, int64_t *start, int64_t *end);

/* ---- logging ---- */
typedef enum { UTIL_LOG_DEBUG, UTIL_LOG_INFO, UTIL_LOG_WARN, UTIL_LOG_ERROR } util_log_level;
void util_log_set_level(util_log_level lvl);
/* Set the level from "debug", "info", "warn" or "error"; MLREG_EUSAGE otherwise. */
int util_log_level_parse(const char *s);
/* Set the line format from "logfmt" (the default) or "json"; MLREG_EUSAGE otherwise. */
int util_log_format_parse(const char *s);
/* The prog= field of every line ("mlreg-server", "mlreg-node", ...); the
 * string must live as long as the process.  Default "mlreg". */
void util_log_set_prog(const char *prog);
/* One event as one line on stderr (log.c shows both formats). */
void util_log(util_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a logfmt quoted value (quotes, backslash and control characters
 * escaped), cut to fit outsz; returns its length (0 when outsz < 3). */
size_t util_logfmt_quote(const char *s, char *out, size_t outsz);
#define LOG_INFO(...) util_log(UTIL_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) util_log(UTIL_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) util_log(UTIL_LOG_ERROR, __VA_ARGS__)
#define LOG_DEBUG(...) util_log(UTIL_LOG_DEBUG, __VA_ARGS__)

#endif
