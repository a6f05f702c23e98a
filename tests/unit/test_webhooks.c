/*
 * test_webhooks.c - unit tests for the pure decision of webhook delivery:
 * which URLs may be registered (api_webhook_url_check).  How long to wait
 * before the next attempt is util_backoff_ms, tested in test_util.c.
 *
 * The URL check runs libcurl's real parser and the real resolver, but only
 * on literal addresses, "localhost" and URLs refused before resolution, so
 * the test needs no network.  Delivery itself (HTTP, signatures, the
 * connect-time refusal) is exercised end to end by t_webhooks.sh against a
 * real receiver.
 */
#include "testutil.h"

#include "api/http.h"

static void refused(const char *url, bool allow_private, const char *needle)
{
	mlreg_error_clear();
	if (api_webhook_url_check(url, allow_private) != MLREG_EINVALID)
		fail_msg("'%s' (allow_private=%d) must be refused", url, allow_private);
	if (needle && !strstr(mlreg_error_last(), needle))
		fail_msg("'%s': message '%s' lacks '%s'", url, mlreg_error_last(), needle);
}

static void accepted(const char *url, bool allow_private)
{
	if (api_webhook_url_check(url, allow_private) != 0)
		fail_msg("'%s' (allow_private=%d) must be accepted: %s", url, allow_private, mlreg_error_last());
}

static void url_schemes_and_user_info(void **state)
{
	for (int allow = 0; allow <= 1; allow++) {
		refused("ftp://example.com/hook", allow, "http or https");
		refused("file:///etc/passwd", allow, NULL);
		refused("gopher://example.com/", allow, NULL);
		refused("example.com/hook", allow, NULL);
		refused("", allow, NULL);
		refused("http://", allow, NULL);
		refused("http://user:pw@example.com/", allow, "user info");
		refused("http://user@example.com/", allow, "user info");
		refused("http://:pw@example.com/", allow, "user info");
		refused("http://exa mple.com/", allow, NULL);
	}
	assert_int_equal(api_webhook_url_check(NULL, true), MLREG_EINVALID);
}

static void url_private_addresses(void **state)
{
	static const char *const urls[][2] = {
		{"http://127.0.0.1:8080/hook", "127.0.0.1"},
		{"http://10.0.0.1/", "10.0.0.1"},
		{"https://169.254.169.254/latest/meta-data/", "169.254.169.254"},
		{"http://0.0.0.0/", "0.0.0.0"},
		{"http://[::1]:9/", "::1"},
		{"http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"},
		{"http://[fd00::5]/", "fd00::5"},
		{"http://[fe80::1]/", "fe80::1"},
		{"http://2130706433/", "127.0.0.1"},  /* decimal IPv4 */
		{"http://0x7f.1/", "127.0.0.1"},      /* hex and short forms */
		{"HTTP://192.168.1.1/", "192.168.1.1"},
		{"http://100.64.1.1/", "100.64.1.1"},
		{"http://localhost:1234/", "localhost"},
		/* loopback by name, refused without asking a resolver that may not know them */
		{"http://LocalHost./", "LocalHost."},
		{"http://api.localhost:8080/", "api.localhost"},
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		refused(urls[i][0], false, urls[i][1]);
		refused(urls[i][0], false, "--webhook-allow-private");
		accepted(urls[i][0], true);
	}
}

static void url_public_addresses(void **state)
{
	accepted("http://203.0.113.10/hook", false);
	accepted("https://203.0.113.10:8443/a/b?c=d", false);
	accepted("https://[2001:db8::1]/hook", false);
	accepted("http://[::ffff:8.8.8.8]/", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_schemes_and_user_info),
		cmocka_unit_test(url_private_addresses),
		cmocka_unit_test(url_public_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
