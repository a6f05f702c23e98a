/*
 * server_transport.c - the transport flags of `mlreg server`: TLS,
 * connection limits, the request deadline (shared with mlreg-node through
 * util/httpd_transport.c), the blob body limit and the signed blob URL
 * settings.
 *
 * They live in their own table, merged into getopt's by api_config_parse
 * the way the controller's flags are, so the main flag table stays short
 * and each group is checked where it is used.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"

static const char *const names[] = {"tls-cert", "tls-key", "max-conns", "max-conns-per-ip", "request-timeout",
				    "max-blob", "url-max-ttl", "url-key-file", NULL};

const char *api_transport_flag_name(int i) { return names[i]; }

void api_transport_defaults(api_config *c)
{
	util_httpd_transport_defaults(&c->tr);
	c->max_blob = (uint64_t)64 << 30;
	c->url_max_ttl_ms = 86400000;
	c->url_key_file = NULL;
}

void api_transport_usage(FILE *f)
{
	fputs(util_httpd_transport_usage(), f);
	fputs("  --max-blob BYTES       largest blob body, monolithic or chunked upload (default 68719476736 = 64 GiB)\n"
	      "  --url-max-ttl DUR      longest life of a signed blob URL (default 24h)\n"
	      "  --url-key-file FILE    key of signed blob URLs (default DATA/url.key, made at first start)\n",
	      f);
}

int api_transport_flag_set(api_config *c, const char *name, const char *value)
{
	int64_t v;
	int rc = util_httpd_transport_flag(&c->tr, name, value);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (!strcmp(name, "max-blob")) {
		if (util_parse_i64(value, &v) < 0 || v < 1 || v > ((int64_t)1 << 50))
			return mlreg_error_set(MLREG_EUSAGE, "--max-blob needs a byte count from 1 to 1125899906842624 (got '%s')",
					       value);
		c->max_blob = (uint64_t)v;
	} else if (!strcmp(name, "url-max-ttl")) {
		if (util_duration_ms(value, &v) < 0 || v < 1000 || v > 30LL * 86400000)
			return mlreg_error_set(MLREG_EUSAGE, "--url-max-ttl needs a duration from 1s to 30 days (got '%s')", value);
		c->url_max_ttl_ms = v;
	} else if (!strcmp(name, "url-key-file")) {
		c->url_key_file = value;
	} else {
		return mlreg_error_set(MLREG_EUSAGE, "unknown flag --%s", name);
	}
	return 0;
}
