/*
 * fuzz_webhook_url.c - libFuzzer target for the webhook URL check, the one
 * parser between an admin-supplied URL and an outgoing connection (SSRF).
 *
 * The check runs with --webhook-allow-private semantics here, so no input
 * makes the fuzzer ask a DNS resolver: what is exercised is libcurl's URL
 * parsing as we drive it (scheme, user info, host, port), the loopback-name
 * rule, and our error paths.  A URL accepted must be one libcurl reads
 * with an http or https scheme.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "api/http.h"

/* The scheme libcurl reads from url, lowercased by curl; NULL if none. */
static char *scheme_of(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *copy = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
		copy = strdup(scheme);
		curl_free(scheme);
	}
	curl_url_cleanup(u);
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url;
	/* URLs arrive in JSON strings, which the parser refuses with a NUL */
	if (size > 4096 || memchr(data, 0, size))
		return 0;
	if (!(url = malloc(size + 1)))
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	if (api_webhook_url_check(url, true) == 0) {
		char *scheme = scheme_of(url);
		/* accepted means curl, which will deliver it, reads http(s) */
		if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
			abort();
		free(scheme);
	}
	free(url);
	return 0;
}
