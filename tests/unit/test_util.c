/*
 * test_util.c - unit tests for util/: bounded buffers, SHA-256 and digest
 * strings, random tokens, constant-time comparison, the durable filesystem
 * helpers, numbers, durations, times and the thread-local error record.
 *
 * Hashes are checked against the FIPS 180-2 (and HMAC against the RFC 4231)
 * known answers rather than against OpenSSL called a second way, so a wrong wiring (prefix, hex case,
 * truncated update) fails here and not only in a digest mismatch far away.
 * Name and reference validation live in test_names.c.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

/* ---- buffers ---- */

static void buf_appends_and_terminates(void **state)
{
	util_buf b;
	char *s;
	util_buf_init(&b, 1024);
	assert_int_equal(util_buf_puts(&b, "ab"), 0);
	assert_int_equal(util_buf_put(&b, "cd\0e", 4), 0);
	assert_int_equal(util_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.ptr, "abcd\0e42-x", 11); /* includes the NUL terminator */
	s = util_buf_detach(&b);
	assert_memory_equal(s, "abcd\0e42-x", 11);
	assert_null(b.ptr);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 1024); /* detach keeps the limit for reuse */
	free(s);
}

static void buf_limit_refuses_and_keeps_content(void **state)
{
	util_buf b;
	util_buf_init(&b, 8);
	assert_int_equal(util_buf_puts(&b, "12345678"), 0); /* exactly max is fine */
	assert_int_equal(util_buf_put(&b, "9", 1), MLREG_ETOOBIG);
	assert_int_equal(mlreg_error_code(), MLREG_ETOOBIG);
	assert_int_equal(util_buf_printf(&b, "%s", "x"), MLREG_ETOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.ptr, "12345678");
	/* a huge length must not wrap the size check */
	assert_int_equal(util_buf_put(&b, "", SIZE_MAX), MLREG_ETOOBIG);
	util_buf_release(&b);
	assert_null(b.ptr);
	assert_int_equal(b.max, 8);
	/* growing through several reallocations past the initial capacity */
	util_buf_init(&b, 100000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(util_buf_put(&b, "0123456789", 10), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(b.ptr[b.len], '\0');
	assert_int_equal(util_buf_put(&b, "x", 1), MLREG_ETOOBIG);
	util_buf_release(&b);
}

static void buf_detach_empty_gives_empty_string(void **state)
{
	util_buf b;
	char *s;
	util_buf_init(&b, 16);
	s = util_buf_detach(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

/* ---- hashing ---- */

static void sha256_known_answers(void **state)
{
	char out[UTIL_DIGEST_LEN + 1], hex[65];
	util_sha256_buf("", 0, out);
	assert_string_equal(out, "sha256:" SHA_EMPTY);
	util_sha256_buf("abc", 3, out);
	assert_string_equal(out, "sha256:" SHA_ABC);
	util_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, SHA_448);
	assert_int_equal(strlen(out), UTIL_DIGEST_LEN);
}

static void sha256_incremental_equals_oneshot(void **state)
{
	char *a = tu_repeat('a', 1000000);
	char out[UTIL_DIGEST_LEN + 1];
	util_sha256 *h = util_sha256_new();
	assert_non_null(h);
	/* uneven chunks, including empty updates */
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 65521 + 1) {
		size_t n = off + step > 1000000 ? 1000000 - off : step;
		util_sha256_update(h, a + off, n);
		util_sha256_update(h, a, 0);
	}
	util_sha256_final(h, out); /* frees h */
	assert_string_equal(out, "sha256:" SHA_MILLION_A);
	util_sha256_free(NULL);
	free(a);
}

static void sha256_file_and_fd(void **state)
{
	char *dir = tu_mkdtemp(), path[600], out[UTIL_DIGEST_LEN + 1];
	uint64_t size = 99;
	int fd;
	snprintf(path, sizeof(path), "%s/f", dir);
	tu_write(path, "xxabc", 5);
	assert_int_equal(util_sha256_file(path, out, &size), 0);
	assert_int_equal(size, 5);
	/* fd variant hashes from the current position */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
	assert_int_equal(util_sha256_fd(fd, out, &size), 0);
	close(fd);
	assert_string_equal(out, "sha256:" SHA_ABC);
	assert_int_equal(size, 3);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(util_sha256_file(path, out, NULL), MLREG_ENOTFOUND);
	tu_rmdir(dir);
}

static void digest_valid_grammar(void **state)
{
	char s[100];
	assert_true(util_digest_valid("sha256:" SHA_ABC));
	assert_false(util_digest_valid(NULL));
	assert_false(util_digest_valid(""));
	assert_false(util_digest_valid(SHA_ABC));                   /* no prefix */
	assert_false(util_digest_valid("sha512:" SHA_ABC));         /* other algorithm */
	assert_false(util_digest_valid("SHA256:" SHA_ABC));         /* prefix case */
	assert_false(util_digest_valid("sha256:" SHA_ABC "0"));     /* 65 hex */
	snprintf(s, sizeof(s), "sha256:%.63s", SHA_ABC);            /* 63 hex */
	assert_false(util_digest_valid(s));
	snprintf(s, sizeof(s), "sha256:%s", SHA_ABC);
	s[10] = 'A'; /* uppercase hex is a different spelling: refused */
	assert_false(util_digest_valid(s));
	s[10] = 'g';
	assert_false(util_digest_valid(s));
	snprintf(s, sizeof(s), "sha256:%s ", SHA_ABC);
	assert_false(util_digest_valid(s));
}

/* ---- random tokens and comparison ---- */

static void random_token_shape_and_uniqueness(void **state)
{
	char a[64], b[64], hex[65];
	assert_int_equal(util_random_token(a, sizeof(a), 32), 0);
	assert_int_equal(util_random_token(b, sizeof(b), 32), 0);
	assert_int_equal(strlen(a), 43); /* ceil(32*4/3), no padding */
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
	assert_string_not_equal(a, b);
	assert_int_equal(util_random_token(a, sizeof(a), 1), 0);
	assert_int_equal(strlen(a), 2);
	assert_int_equal(util_random_token(a, sizeof(a), 2), 0);
	assert_int_equal(strlen(a), 3);
	/* an output buffer too small is refused, not overrun */
	assert_true(util_random_token(a, 43, 32) < 0);
	assert_int_equal(util_random_token(a, 44, 32), 0);
	assert_int_equal(util_random_hex(hex, 32), 0);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(strspn(hex, "0123456789abcdef"), 64);
	assert_true(util_random_hex(hex, 65) < 0);
}

static void consttime_eq_cases(void **state)
{
	assert_true(util_consttime_eq("", ""));
	assert_true(util_consttime_eq("mlr_abc", "mlr_abc"));
	assert_false(util_consttime_eq("mlr_abc", "mlr_abd"));
	assert_false(util_consttime_eq("mlr_abc", "mlr_ab"));
	assert_false(util_consttime_eq("mlr_ab", "mlr_abc"));
	assert_false(util_consttime_eq("", "x"));
}

/* ---- HMAC-SHA256 (webhook signatures) ---- */

static void hmac_sha256_rfc4231_vectors(void **state)
{
	unsigned char k1[20], k6[131];
	char out[65];
	memset(k1, 0x0b, sizeof(k1));
	memset(k6, 0xaa, sizeof(k6));
	/* RFC 4231 section 4.2, test case 1 */
	assert_int_equal(util_hmac_sha256_hex(k1, sizeof(k1), "Hi There", 8, out), 0);
	assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* test case 2: a key shorter than the output */
	assert_int_equal(util_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
	assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* test case 6: a key longer than the block is hashed first */
	assert_int_equal(util_hmac_sha256_hex(k6, sizeof(k6), "Test Using Larger Than Block-Size Key - Hash Key First", 54,
					      out),
			 0);
	assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	/* an empty message is signed too (not taken for "no data") */
	assert_int_equal(util_hmac_sha256_hex("key", 3, "", 0, out), 0);
	assert_string_equal(out, "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
	assert_int_equal(util_hmac_sha256_hex("key", 3, NULL, 0, out), 0);
	assert_string_equal(out, "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
}

/* ---- private addresses (SSRF defence) ---- */

static bool priv(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &a->sin_addr), 1);
	}
	return util_addr_is_private((struct sockaddr *)&ss);
}

static void addr_private_ranges(void **state)
{
	static const char *const refused[] = {
		/* IPv4: loopback, RFC 1918 edges, link-local and metadata, unspecified, CGNAT */
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
		"192.168.0.1", "192.168.255.255", "169.254.0.1", "169.254.169.254", "0.0.0.0", "0.1.2.3",
		"100.64.0.1", "100.127.255.255", "192.0.0.1", "198.18.0.1", "198.19.255.255",
		/* multicast, reserved, broadcast */
		"224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
		/* IPv6: unspecified, loopback, link-local, unique-local, site-local, multicast */
		"::", "::1", "fe80::1", "febf:ffff::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1",
		/* IPv4 embedded in IPv6: mapped, compatible, NAT64, 6to4 */
		"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::127.0.0.1",
		"::10.0.0.1", "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:c0a8:101::1",
	};
	static const char *const allowed[] = {
		/* just outside each IPv4 range */
		"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
		"128.0.0.1", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255",
		"192.169.0.0", "192.0.1.1", "198.17.255.255", "198.20.0.0", "223.255.255.255", "93.184.216.34",
		/* public IPv6, and embedded public IPv4 */
		"2001:4860:4860::8888", "2606:4700::1111", "fe7f::1", "2a00:1450::1",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "::2:0:0:1",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!priv(refused[i]))
			fail_msg("%s must be classified private", refused[i]);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (priv(allowed[i]))
			fail_msg("%s must be classified public", allowed[i]);
}

static void addr_private_fails_closed(void **state)
{
	struct sockaddr_un un;
	struct sockaddr_in6 a6;
	char text[64];
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_true(util_addr_is_private(NULL));
	assert_true(util_addr_is_private((struct sockaddr *)&un));
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:169.254.169.254", &a6.sin6_addr), 1);
	util_addr_format((struct sockaddr *)&a6, text, sizeof(text));
	assert_string_equal(text, "::ffff:169.254.169.254");
	util_addr_format((struct sockaddr *)&un, text, sizeof(text));
	assert_string_equal(text, "?");
}

/* ---- filesystem ---- */

static void mkdir_p_creates_nested_and_is_idempotent(void **state)
{
	char *dir = tu_mkdtemp(), p[600];
	struct stat st;
	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/b/c/", dir); /* trailing slash */
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	assert_int_equal(util_mkdir_p("", 0755), MLREG_EINVALID);
	/* a file in the way is an error, not silently ignored */
	snprintf(p, sizeof(p), "%s/file", dir);
	tu_write(p, "x", 1);
	snprintf(p, sizeof(p), "%s/file/sub", dir);
	assert_int_equal(util_mkdir_p(p, 0755), MLREG_EIO);
	tu_rmdir(dir);
}

static void write_atomic_replaces_and_leaves_no_temp(void **state)
{
	char *dir = tu_mkdtemp(), p[600], *data = NULL;
	size_t len = 0;
	struct stat st;
	mode_t old = umask(022);
	snprintf(p, sizeof(p), "%s/token", dir);
	assert_int_equal(util_write_file_atomic(p, "first", 5, 0600), 0);
	assert_int_equal(util_write_file_atomic(p, "second!", 7, 0600), 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(util_read_file(p, 1024, &data, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(data, "second!");
	free(data);
	assert_int_equal(tu_count_entries(dir), 1); /* no *.tmp.* left over */
	/* a folder that does not exist: error, nothing created */
	snprintf(p, sizeof(p), "%s/nope/token", dir);
	assert_int_equal(util_write_file_atomic(p, "x", 1, 0600), MLREG_EIO);
	tu_rmdir(dir);
}

/* A secret file (url.key, admin.token) must not inherit the mode of a temp
 * file found in the way (a crash leftover or a planted one) nor be written
 * through a symbolic link put where the temp file goes. */
static void write_atomic_ignores_a_temp_in_the_way(void **state)
{
	char *dir = tu_mkdtemp(), p[600], tmp[700], other[600], *data = NULL;
	size_t len = 0;
	struct stat st;
	int fd;
	snprintf(p, sizeof(p), "%s/url.key", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", p, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	assert_int_equal(util_write_file_atomic(p, "secret", 6, 0600), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(unlink(p), 0);
	/* a link in the temp file's place: the secret goes to neither its target
	 * nor behind a link */
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink(other, tmp), 0);
	assert_int_equal(util_write_file_atomic(p, "secret", 6, 0600), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(util_read_file(other, 1024, &data, &len), 0);
	assert_int_equal(len, 0);
	free(data);
	tu_rmdir(dir);
	(void)state;
}

static void read_file_enforces_limit(void **state)
{
	char *dir = tu_mkdtemp(), p[600], *data = NULL, *big = tu_repeat('z', 200000);
	size_t len = 0;
	snprintf(p, sizeof(p), "%s/f", dir);
	tu_write(p, big, 200000); /* several read() chunks */
	assert_int_equal(util_read_file(p, 200000, &data, &len), 0);
	assert_int_equal(len, 200000);
	assert_memory_equal(data, big, 200000);
	assert_int_equal(data[200000], '\0');
	free(data);
	data = NULL;
	assert_int_equal(util_read_file(p, 199999, &data, &len), MLREG_ETOOBIG);
	assert_null(data);
	tu_write(p, "", 0);
	assert_int_equal(util_read_file(p, 10, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
	snprintf(p, sizeof(p), "%s/missing", dir);
	assert_int_equal(util_read_file(p, 10, &data, &len), MLREG_ENOTFOUND);
	free(big);
	tu_rmdir(dir);
}

static void rm_rf_does_not_follow_links(void **state)
{
	char *dir = tu_mkdtemp(), tree[600], outside[600], p[700], link_path[700];
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	snprintf(p, sizeof(p), "%s/x/y", tree);
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	assert_int_equal(util_mkdir_p(outside, 0755), 0);
	snprintf(p, sizeof(p), "%s/keep", outside);
	tu_write(p, "k", 1);
	snprintf(link_path, sizeof(link_path), "%s/x/link", tree);
	assert_int_equal(symlink(outside, link_path), 0);
	snprintf(p, sizeof(p), "%s/x/y/f", tree);
	tu_write(p, "f", 1);
	assert_int_equal(util_rm_rf(tree), 0);
	assert_false(tu_exists(tree));
	snprintf(p, sizeof(p), "%s/keep", outside);
	assert_true(tu_exists(p));
	assert_int_equal(util_rm_rf(tree), 0); /* missing is fine */
	tu_rmdir(dir);
}

/* ---- numbers, durations, times ---- */

static void parse_i64_cases(void **state)
{
	int64_t v = 7;
	assert_int_equal(util_parse_i64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(util_parse_i64("-42", &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(util_parse_i64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(util_parse_i64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	v = 7;
	const char *bad[] = {"", "9223372036854775808", "12abc", " 1", "+1", "1.0", "-", "0x10", "1 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(util_parse_i64(bad[i], &v), MLREG_EINVALID);
		assert_int_equal(v, 7); /* *out untouched on failure */
	}
	assert_int_equal(util_parse_i64(NULL, &v), MLREG_EINVALID);
}

static void parse_double_cases(void **state)
{
	double d = 0;
	assert_int_equal(util_parse_double("0.25", &d), 0);
	assert_true(d == 0.25);
	assert_int_equal(util_parse_double("-1e3", &d), 0);
	assert_true(d == -1000.0);
	d = 3;
	const char *bad[] = {"", "inf", "-inf", "nan", "1e999", "1.5x", "1,5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(util_parse_double(bad[i], &d), MLREG_EINVALID);
		assert_true(d == 3);
	}
}

static void backoff_doubles_caps_and_jitters(void **state)
{
	/* attempt 1: backoff scaled into [backoff/2, backoff] */
	assert_int_equal(util_backoff_ms(1000, 600000, 1, 0.0), 500);
	assert_int_equal(util_backoff_ms(1000, 600000, 1, 1.0), 1000);
	assert_int_equal(util_backoff_ms(1000, 600000, 1, 0.5), 750);
	/* doubling per attempt */
	assert_int_equal(util_backoff_ms(1000, 600000, 2, 1.0), 2000);
	assert_int_equal(util_backoff_ms(1000, 600000, 4, 1.0), 8000);
	assert_int_equal(util_backoff_ms(1000, 600000, 4, 0.0), 4000);
	/* the ceiling, also for attempts far past it and ceilings below backoff */
	assert_int_equal(util_backoff_ms(1000, 600000, 11, 1.0), 600000);
	assert_int_equal(util_backoff_ms(1000, 600000, 1000000, 1.0), 600000);
	assert_int_equal(util_backoff_ms(1000, 600000, 1000000, 0.0), 300000);
	assert_int_equal(util_backoff_ms(1000, 100, 1, 1.0), 100);
	/* no overflow near the top of int64 */
	assert_int_equal(util_backoff_ms(INT64_MAX / 4, INT64_MAX / 2 + 7, 100, 1.0) > 0, 1);
	/* out-of-range draws are clamped; never 0 */
	assert_int_equal(util_backoff_ms(1000, 600000, 1, -3.0), 500);
	assert_int_equal(util_backoff_ms(1000, 600000, 1, 7.0), 1000);
	assert_int_equal(util_backoff_ms(1000, 600000, 1, NAN), 500);
	assert_int_equal(util_backoff_ms(1, 1, 1, 0.0), 1);
}

static void duration_units(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {{"500ms", 500},       {"30s", 30000},  {"30", 30000},     {"5m", 300000},  {"1h", 3600000},
		  {"2d", 172800000},     {"1.5s", 1500},  {".5s", 500},      {"0", 0},        {"0ms", 0},
		  {"100000d", 8640000000000}};
	const char *bad[] = {"", "-5s", "5 s", "5x", "5M", "s", "ms", "1sm", "inf", "nan", " 5s", "104166667d", "1e300h"};
	int64_t v;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = -1;
		if (util_duration_ms(ok[i].s, &v) != 0 || v != ok[i].ms)
			fail_msg("'%s': expected %lld ms, got %lld (%s)", ok[i].s, (long long)ok[i].ms, (long long)v,
				 mlreg_error_last());
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -7;
		if (util_duration_ms(bad[i], &v) != MLREG_EINVALID || v != -7)
			fail_msg("'%s' should be refused, got %lld", bad[i], (long long)v);
	}
	assert_int_equal(util_duration_ms(NULL, &v), MLREG_EINVALID);
}

static void time_format_and_parse_round_trip(void **state)
{
	char ts[40];
	int64_t ms = 0;
	util_time_format(0, ts, sizeof(ts));
	assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
	util_time_format(1795860000123LL, ts, sizeof(ts));
	assert_string_equal(ts, "2026-11-28T10:00:00.123Z");
	assert_int_equal(util_time_parse("2026-11-28T10:00:00Z", &ms), 0);
	assert_true(ms == 1795860000000LL);
	assert_int_equal(util_time_parse("2026-11-28T10:00:00.5Z", &ms), 0);
	assert_true(ms == 1795860000500LL);
	assert_int_equal(util_time_parse("2026-11-28T10:00:00.123456Z", &ms), 0);
	assert_true(ms == 1795860000123LL);
	assert_int_equal(util_time_parse("2026-11-28T10:00:00+00:00", &ms), 0);
	assert_true(ms == 1795860000000LL);
	assert_int_equal(util_time_parse("2000-02-29", &ms), 0);
	assert_true(ms == 951782400000LL);
	assert_int_equal(util_time_parse(ts, &ms), 0);
	assert_true(ms == 1795860000123LL);
	/* non-UTC offsets and garbage are refused */
	ms = 5;
	const char *bad[] = {"", "2026-11-28T10:00:00", "2026-11-28T10:00:00+01:00", "2026-11-28T10:00:00Zjunk",
			     "yesterday", "2026-13-01", "2026-11-28x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(util_time_parse(bad[i], &ms), MLREG_EINVALID);
		assert_true(ms == 5);
	}
}

static void time_parse_duration_means_ago(void **state)
{
	int64_t before = util_now_ms(), ms = 0, after;
	assert_int_equal(util_time_parse("24h", &ms), 0);
	after = util_now_ms();
	assert_true(ms >= before - 86400000LL && ms <= after - 86400000LL);
}

/* util_time_parse accepts times before 1970 (negative ms); formatting one
 * must give the same instant back, not a negative millisecond field. */
static void time_format_before_epoch(void **state)
{
	char ts[40];
	int64_t ms = 0;
	assert_int_equal(util_time_parse("1969-12-31T23:59:59.500Z", &ms), 0);
	assert_true(ms == -500);
	util_time_format(ms, ts, sizeof(ts));
	assert_string_equal(ts, "1969-12-31T23:59:59.500Z");
}

/* ---- errors ---- */

static void error_record_is_kept_and_cleared(void **state)
{
	assert_int_equal(mlreg_error_set(MLREG_ENOTFOUND, "cannot open model '%s': not found", "fraud"), MLREG_ENOTFOUND);
	assert_int_equal(mlreg_error_code(), MLREG_ENOTFOUND);
	assert_string_equal(mlreg_error_last(), "cannot open model 'fraud': not found");
	assert_string_equal(mlreg_error_name(MLREG_ENOTFOUND), "not_found");
	assert_string_equal(mlreg_error_name(MLREG_ENEWER), "newer_version");
	assert_string_equal(mlreg_error_name(12345), "error");
	mlreg_error_clear();
	assert_int_equal(mlreg_error_code(), MLREG_OK);
	assert_string_equal(mlreg_error_last(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_appends_and_terminates),
		cmocka_unit_test(buf_limit_refuses_and_keeps_content),
		cmocka_unit_test(buf_detach_empty_gives_empty_string),
		cmocka_unit_test(sha256_known_answers),
		cmocka_unit_test(sha256_incremental_equals_oneshot),
		cmocka_unit_test(sha256_file_and_fd),
		cmocka_unit_test(digest_valid_grammar),
		cmocka_unit_test(random_token_shape_and_uniqueness),
		cmocka_unit_test(consttime_eq_cases),
		cmocka_unit_test(hmac_sha256_rfc4231_vectors),
		cmocka_unit_test(addr_private_ranges),
		cmocka_unit_test(addr_private_fails_closed),
		cmocka_unit_test(mkdir_p_creates_nested_and_is_idempotent),
		cmocka_unit_test(write_atomic_replaces_and_leaves_no_temp),
		cmocka_unit_test(write_atomic_ignores_a_temp_in_the_way),
		cmocka_unit_test(read_file_enforces_limit),
		cmocka_unit_test(rm_rf_does_not_follow_links),
		cmocka_unit_test(parse_i64_cases),
		cmocka_unit_test(parse_double_cases),
		cmocka_unit_test(backoff_doubles_caps_and_jitters),
		cmocka_unit_test(duration_units),
		cmocka_unit_test(time_format_and_parse_round_trip),
		cmocka_unit_test(time_parse_duration_means_ago),
		cmocka_unit_test(time_format_before_epoch),
		cmocka_unit_test(error_record_is_kept_and_cleared),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
