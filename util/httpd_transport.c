/*
 * httpd_transport.c - what `mlreg server` and `mlreg-node` share below HTTP:
 * TLS through libmicrohttpd (GnuTLS inside it; we hand it the PEM text),
 * connection limits, and a deadline for receiving a request.
 *
 * libmicrohttpd's own connection timeout counts inactivity only, so a client
 * that sends its headers one byte per second is never cut by it (slowloris).
 * The deadline here counts from the moment a connection is accepted (or its
 * previous request completed) until the access handler says the request has
 * arrived; past it, a watchdog thread shuts the socket down, which wakes the
 * connection's event thread and makes libmicrohttpd close it the ordinary
 * way.  Connections are tracked through MHD_OPTION_NOTIFY_CONNECTION, whose
 * "closed" call comes before libmicrohttpd closes the descriptor, so under
 * the one mutex the watchdog never touches a descriptor that was reused.
 * A shut-down socket, not a close from outside, keeps libmicrohttpd the only
 * owner of its descriptors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/crypto.h>
#include "util/httpd.h"
#include "util/httpd_transport.h"
#include "util/util.h"

typedef struct entry {
	int fd;
	int64_t deadline_ns; /* 0: not counting */
	struct entry *prev, *next;
} entry;

struct util_httpd_guard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool stop;
	int64_t timeout_ns;
	entry *head;
	atomic_uint_fast64_t cut;
};

void util_httpd_transport_defaults(util_httpd_transport *t)
{
	memset(t, 0, sizeof(*t));
	t->max_conns = 1024;
	t->max_conns_per_ip = 0;
	t->request_timeout_ms = 30000;
}

const char *util_httpd_transport_usage(void)
{
	return "  --tls-cert FILE        serve HTTPS with this PEM certificate (chain); needs --tls-key\n"
	       "  --tls-key FILE         PEM private key of --tls-cert (refused unless mode 0600 or stricter)\n"
	       "  --max-conns N          connections at once; more wait unaccepted (default 1024)\n"
	       "  --max-conns-per-ip N   connections at once from one address; 0 = no limit (default 0)\n"
	       "  --request-timeout DUR  a request's headers (and a body that is not a blob) must arrive\n"
	       "                         within DUR of the connection or the previous answer (default 30s)\n";
}

int util_httpd_transport_flag(util_httpd_transport *t, const char *name, const char *value)
{
	int64_t v;
	if (!strcmp(name, "tls-cert")) {
		t->tls_cert = value;
	} else if (!strcmp(name, "tls-key")) {
		t->tls_key = value;
	} else if (!strcmp(name, "max-conns") || !strcmp(name, "max-conns-per-ip")) {
		bool per_ip = name[9] != '\0';
		if (util_parse_i64(value, &v) < 0 || v < (per_ip ? 0 : 1) || v > 1000000)
			return mlreg_error_set(MLREG_EUSAGE, "--%s needs a number from %d to 1000000 (got '%s')", name,
					       per_ip ? 0 : 1, value);
		*(per_ip ? &t->max_conns_per_ip : &t->max_conns) = (unsigned)v;
	} else if (!strcmp(name, "request-timeout")) {
		if (util_duration_ms(value, &v) < 0 || v < 1 || v > 86400000)
			return mlreg_error_set(MLREG_EUSAGE, "--request-timeout needs a duration from 1ms to 24h (got '%s')",
					       value);
		t->request_timeout_ms = v;
	} else {
		return 0;
	}
	return 1;
}

const char *util_httpd_scheme(const util_httpd_transport *t) { return t->tls_cert ? "https" : "http"; }

/* ------------------------------------------------------------------ */
/* the request deadline                                                */
/* ------------------------------------------------------------------ */
static entry *entry_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	util_httpd_guard *g = cls;
	entry *e = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(e = calloc(1, sizeof(*e))))
			return; /* untracked: only idle-timeout applies to it */
		e->fd = ci->connect_fd;
		pthread_mutex_lock(&g->mu);
		e->deadline_ns = util_mono_ns() + g->timeout_ns;
		e->next = g->head;
		if (g->head)
			g->head->prev = e;
		g->head = e;
		pthread_mutex_unlock(&g->mu);
		*socket_context = e;
	} else if (e) {
		pthread_mutex_lock(&g->mu);
		if (e->prev)
			e->prev->next = e->next;
		else
			g->head = e->next;
		if (e->next)
			e->next->prev = e->prev;
		pthread_mutex_unlock(&g->mu);
		free(e);
		*socket_context = NULL;
	}
}

static void set_deadline(util_httpd_guard *g, struct MHD_Connection *c, bool arm)
{
	entry *e;
	if (!g || !(e = entry_of(c)))
		return;
	pthread_mutex_lock(&g->mu);
	e->deadline_ns = arm ? util_mono_ns() + g->timeout_ns : 0;
	pthread_mutex_unlock(&g->mu);
}

void util_httpd_guard_received(util_httpd_guard *g, struct MHD_Connection *c) { set_deadline(g, c, false); }
void util_httpd_guard_rearm(util_httpd_guard *g, struct MHD_Connection *c) { set_deadline(g, c, true); }
uint64_t util_httpd_guard_cut(const util_httpd_guard *g) { return g ? atomic_load(&g->cut) : 0; }

static void *watchdog(void *p)
{
	util_httpd_guard *g = p;
	/* look a few times per timeout: a cut comes at most a quarter late */
	int64_t tick = g->timeout_ns / 4;
	if (tick < 5000000)
		tick = 5000000;
	if (tick > 1000000000)
		tick = 1000000000;
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		struct timespec ts;
		int64_t now = util_mono_ns();
		for (entry *e = g->head; e; e = e->next) {
			if (e->deadline_ns && now >= e->deadline_ns) {
				e->deadline_ns = 0;
				shutdown(e->fd, SHUT_RDWR);
				atomic_fetch_add(&g->cut, 1);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(tick / 1000000000);
		ts.tv_nsec += (long)(tick % 1000000000);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&g->cv, &g->mu, &ts);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

static int guard_start(util_httpd_guard **out, int64_t timeout_ms)
{
	util_httpd_guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	if (!g)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	g->timeout_ns = timeout_ms * 1000000;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&g->thread, NULL, watchdog, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return mlreg_error_set(MLREG_ERROR, "cannot start the request deadline thread");
	}
	*out = g;
	return 0;
}

static void guard_stop(util_httpd_guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	/* the daemon is stopped: every connection was closed and notified */
	while (g->head) {
		entry *e = g->head;
		g->head = e->next;
		free(e);
	}
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* ------------------------------------------------------------------ */
/* options                                                             */
/* ------------------------------------------------------------------ */
static int read_pem(const char *flag, const char *path, bool secret, char **out)
{
	struct stat st;
	size_t len;
	if (stat(path, &st) < 0)
		return mlreg_error_set(MLREG_EUSAGE, "--%s %s: %s", flag, path, strerror(errno));
	/* like ssh: a private key others may read is refused, not served */
	if (secret && (st.st_mode & 077))
		return mlreg_error_set(MLREG_EUSAGE,
				       "--%s %s: the key file is readable by group or others (mode %03o); "
				       "chmod 600 it",
				       flag, path, (unsigned)(st.st_mode & 0777));
	if (util_read_file(path, 1 << 20, out, &len) < 0)
		return mlreg_error_set(MLREG_EUSAGE, "--%s %s: %s", flag, path, mlreg_error_last());
	if (!strstr(*out, "-----BEGIN ")) {
		if (secret)
			OPENSSL_cleanse(*out, len);
		free(*out);
		*out = NULL;
		return mlreg_error_set(MLREG_EUSAGE, "--%s %s: not a PEM file", flag, path);
	}
	return 0;
}

/* libmicrohttpd's own messages (MHD_USE_ERROR_LOG) join our one-line log
 * instead of going raw to stderr */
__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (n = strlen(msg); n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'); n--)
		msg[n - 1] = '\0';
	LOG_WARN("libmicrohttpd: %s", msg);
}

int util_httpd_transport_options(util_httpd_transport *t, struct MHD_OptionItem *items, unsigned *flags)
{
	unsigned n = 0;
	int rc;
	*flags = 0;
	/* first: libmicrohttpd warns (on its own stderr) when it is not */
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL};
	if (!t->tls_cert != !t->tls_key)
		return mlreg_error_set(MLREG_EUSAGE, "--tls-cert and --tls-key go together");
	if (t->tls_cert) {
		if ((rc = read_pem("tls-cert", t->tls_cert, false, &t->cert_pem)) < 0 ||
		    (rc = read_pem("tls-key", t->tls_key, true, &t->key_pem)) < 0)
			return rc;
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
			return mlreg_error_set(MLREG_EUSAGE, "this libmicrohttpd is built without TLS: terminate TLS in "
							     "a proxy instead (docs/security.md)");
		*flags |= MHD_USE_TLS;
		items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert_pem};
		items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key_pem};
	}
	if ((rc = guard_start(&t->guard, t->request_timeout_ms)) < 0)
		return rc;
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)t->max_conns, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)t->max_conns_per_ip, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, t->guard};
	items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return 0;
}

void util_httpd_transport_release(util_httpd_transport *t)
{
	guard_stop(t->guard);
	t->guard = NULL;
	if (t->key_pem) {
		OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
		free(t->key_pem);
		t->key_pem = NULL;
	}
	free(t->cert_pem);
	t->cert_pem = NULL;
}
