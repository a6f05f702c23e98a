/*
 * httpd_transport.h - transport settings both HTTP servers (`mlreg server`
 * and `mlreg-node`) share: TLS through libmicrohttpd, connection limits,
 * and a whole-request deadline against slow senders (docs/security.md,
 * "TLS" and "Limits").
 */
#ifndef MLREG_UTIL_HTTPD_TRANSPORT_H
#define MLREG_UTIL_HTTPD_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <microhttpd.h>

typedef struct util_httpd_guard util_httpd_guard;

typedef struct {
	const char *tls_cert;        /* PEM certificate chain file, or NULL for plain HTTP */
	const char *tls_key;         /* PEM private key file (mode 0600 or stricter) */
	unsigned max_conns;          /* connections at once (MHD_OPTION_CONNECTION_LIMIT) */
	unsigned max_conns_per_ip;   /* per client address; 0 = no per-address limit */
	int64_t request_timeout_ms;  /* headers (and bodies not streamed) must arrive within this */

	/* filled by util_httpd_transport_options */
	char *cert_pem, *key_pem;
	util_httpd_guard *guard;
} util_httpd_transport;

/* Defaults: no TLS, 1024 connections, no per-address limit, 30 s per request. */
void util_httpd_transport_defaults(util_httpd_transport *t);

/* Parse one of the shared flags ("tls-cert", "tls-key", "max-conns",
 * "max-conns-per-ip", "request-timeout"): 1 when name is one of them (and
 * value was stored), 0 when it is not, MLREG_EUSAGE on a bad value. */
int util_httpd_transport_flag(util_httpd_transport *t, const char *name, const char *value);
/* The help lines of those flags. */
const char *util_httpd_transport_usage(void);

/* Read the certificate and key (refusing a key file that group or others
 * may read, or one flag without the other), start the request deadline
 * thread, and fill items (room for at least 8) with the MHD options these
 * settings need, ending with MHD_OPTION_END; *flags gets the MHD_USE_TLS
 * bit when TLS is on.  MLREG_EUSAGE / MLREG_EIO with a message. */
int util_httpd_transport_options(util_httpd_transport *t, struct MHD_OptionItem *items, unsigned *flags);
/* Stop the deadline thread and wipe the key copy.  Call after MHD_stop_daemon. */
void util_httpd_transport_release(util_httpd_transport *t);

/* The request deadline: the access handler calls received() once the request
 * it is serving has arrived as far as the deadline covers (headers for a
 * streamed upload, the whole body otherwise), and rearm() when a request on
 * a kept-alive connection completes (the next one starts its own clock).
 * NULL guard: no-ops. */
void util_httpd_guard_received(util_httpd_guard *g, struct MHD_Connection *c);
void util_httpd_guard_rearm(util_httpd_guard *g, struct MHD_Connection *c);
/* Connections the deadline has cut so far. */
uint64_t util_httpd_guard_cut(const util_httpd_guard *g);

/* "http" or "https" for the banner. */
const char *util_httpd_scheme(const util_httpd_transport *t);

#endif
