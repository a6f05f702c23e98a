/*
 * server_flags.c - the flags of `mlreg server`: defaults, parsing, --help.
 *
 * Every period, timeout and limit of the server is a flag here (so tests
 * run in milliseconds and operators can tune without rebuilding), each
 * checked against a sane range at start-up: a typo is a usage error (exit
 * 2) before anything is opened, never a server running with a surprise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"
#include "controller/reconcile.h"
#include "util/conffile.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mlreg server [flags]\n"
		"  --config FILE          read flags from FILE first, one 'name = value' a line (flags given\n"
		"                         here override it; docs/operations.md); no file is read without it\n"
		"  --listen HOST:PORT     address to serve on (default 127.0.0.1:8470; port 0 = any free port)\n"
		"  --data DIR             data directory (default $MLREG_DATA or ./mlreg-data)\n"
		"  --port-file FILE       write the bound port to FILE once listening\n"
		"  --threads N            HTTP event threads (default 2)\n"
		"  --workers N            worker threads for writes and fsyncs (default 4)\n"
		"  --max-json BYTES       largest JSON request body (default 1048576)\n"
		"  --conn-memory BYTES    per-connection buffer memory (default 65536)\n"
		"  --idle-timeout DUR     close idle connections after DUR (default 60s)\n"
		"  --upload-ttl DUR       sweep upload sessions idle longer than DUR (default 24h)\n"
		"  --gc-grace DUR         gc spares unreferenced blobs younger than DUR (default 1h)\n"
		"  --webhook-allow-private  let webhooks reach loopback, private, link-local and other\n"
		"                         non-public addresses (refused by default: SSRF)\n"
		"  --webhook-timeout DUR  connect and total time of one delivery attempt (default 10s)\n"
		"  --webhook-backoff DUR  retry delay after the first failed attempt, doubled each time (default 1s)\n"
		"  --webhook-backoff-max DUR  longest retry delay (default 10m)\n"
		"  --webhook-max-attempts N  attempts before a delivery is marked failed (default 15)\n"
		"  --webhook-poll DUR     longest sleep between looks at the outbox (default 1s)\n"
		"  --webhook-shutdown-grace DUR  how long a delivery in flight may finish at shutdown (default 2s)\n"
		"  --lineage-max-depth N  edges a lineage query follows at most (default 64)\n"
		"  --lineage-max-nodes N  nodes a lineage answer holds at most (default 100000)\n"
		"  --db-mmap BYTES        bytes of the database each reader connection memory-maps (default\n"
		"                         2147418112, SQLite's ceiling; 0 reads through the page cache with copies)\n"
		"  --log-level LEVEL      debug, info, warn or error (default info)\n"
		"  --log-format FORMAT    logfmt or json: one line per event on stderr (default logfmt)\n"
		"  --no-controller        do not run the deployment reconciler in this process\n"
		"  --rate-limit N/s       requests per second each token may make (default 100/s; 0 = no limit)\n"
		"  --rate-burst N         requests a token may make at once above its rate (default 200)\n"
		"  --auth-fail-rate N/s   failed authentications per second an address may make before it is\n"
		"                         answered 429 and its failures are no longer logged one by one\n"
		"                         (default 2/s; 0 = no limit)\n"
		"  --auth-fail-burst N    failed authentications an address may make at once (default 20)\n"
		"  --rate-limit-keys N    tokens and addresses each limiter tracks at most (default 4096)\n"
		"  --token-touch-interval DUR  how often tokens' last use is written to the database (default 60s)\n"
		"  --auth-fail-summary-interval DUR  how often suppressed authentication failures are summed up\n"
		"                         in the log (default 60s)\n"
		"  --console-refresh DUR  how often the web console's deployments page refreshes (default 2s;\n"
		"                         50ms to 1h)\n"
		"  --no-console           do not serve the web console (/ and /console/... answer 404)\n"
		"  --print-routes         print every route as METHOD PATH PERMISSION ROLES and exit\n");
	api_transport_usage(f);
	ctl_flags_usage(f);
}

/* "50/s", "50" or "0.5/s" -> requests per second (0 = off) */
static int parse_rate(const char *s, double *out)
{
	char buf[64];
	size_t n = strlen(s);
	double v;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	if (n > 2 && !strcmp(buf + n - 2, "/s"))
		buf[n - 2] = '\0';
	if (util_parse_double(buf, &v) < 0 || !(v >= 0) || v > 1000000)
		return -1;
	*out = v;
	return 0;
}

/* argument of the flag being handled: a failure there is blamed on its
 * config file line when it came from --config's file */
static int flag_at = -1;

static int parse_flags(int argc, char **argv, api_config *c);

int api_config_parse(int argc, char **argv, api_config *c)
{
	int rc = parse_flags(argc, argv, c);
	return util_conf_blame(rc, flag_at);
}

static int parse_flags(int argc, char **argv, api_config *c)
{
	*c = (api_config){
		.listen = "127.0.0.1:8470", .workers = 4, .threads = 2, .max_json = 1 << 20,
		.conn_memory = 64 * 1024, .idle_timeout_s = 60,
		.webhook_timeout_ms = 10000, .webhook_backoff_ms = 1000, .webhook_backoff_max_ms = 600000,
		.webhook_poll_ms = 1000, .webhook_max_attempts = 15, .webhook_grace_ms = 2000,
		.lineage_max_depth = 64, .lineage_max_nodes = 100000, .db_mmap_bytes = 2147418112,
		.rate_limit = 100, .rate_burst = 200, .auth_fail_rate = 2, .auth_fail_burst = 20, .rate_keys = 4096,
		.token_touch_ms = 60000, .auth_fail_summary_ms = 60000, .console_refresh_ms = 2000,
	};
	c->data_dir = getenv("MLREG_DATA") ? getenv("MLREG_DATA") : "./mlreg-data";
	static const struct option opts[] = {
		{"listen", required_argument, 0, 'l'},   {"data", required_argument, 0, 'd'},
		{"port-file", required_argument, 0, 'p'}, {"threads", required_argument, 0, 't'},
		{"workers", required_argument, 0, 'w'},  {"max-json", required_argument, 0, 'j'},
		{"conn-memory", required_argument, 0, 'm'}, {"idle-timeout", required_argument, 0, 'i'},
		{"upload-ttl", required_argument, 0, 'u'}, {"gc-grace", required_argument, 0, 'g'},
		{"log-level", required_argument, 0, 'L'}, {"help", no_argument, 0, 'h'},
		{"webhook-allow-private", no_argument, 0, 'P'}, {"webhook-timeout", required_argument, 0, 'T'},
		{"webhook-backoff", required_argument, 0, 'B'}, {"webhook-backoff-max", required_argument, 0, 'M'},
		{"webhook-max-attempts", required_argument, 0, 'A'}, {"webhook-poll", required_argument, 0, 'O'},
		{"webhook-shutdown-grace", required_argument, 0, 'G'},
		{"lineage-max-depth", required_argument, 0, 'D'}, {"lineage-max-nodes", required_argument, 0, 'N'},
		{"db-mmap", required_argument, 0, 'Y'},   {"no-controller", no_argument, 0, 'C'},
		{"rate-limit", required_argument, 0, 'r'}, {"rate-burst", required_argument, 0, 'b'},
		{"auth-fail-rate", required_argument, 0, 'f'}, {"auth-fail-burst", required_argument, 0, 'F'},
		{"rate-limit-keys", required_argument, 0, 'K'}, {"token-touch-interval", required_argument, 0, 'U'},
		{"auth-fail-summary-interval", required_argument, 0, 'S'}, {"print-routes", no_argument, 0, 'R'},
		{"config", required_argument, 0, 'c'},   {"log-format", required_argument, 0, 'x'},
		{"console-refresh", required_argument, 0, 'E'}, {"no-console", no_argument, 0, 'Q'},
		{0, 0, 0, 0}};
	static const char *const refused[] = {"print-routes", NULL};
	/* the controller's flags come from its own table (controller/flags.c) */
	struct option all[sizeof(opts) / sizeof(opts[0]) + 48];
	size_t n = 0;
	int o;
	int64_t v;
	for (; opts[n].name; n++)
		all[n] = opts[n];
	for (int i = 0; ctl_flag_name(i) && n + 1 < sizeof(all) / sizeof(all[0]); i++, n++)
		all[n] = (struct option){ctl_flag_name(i), required_argument, 0, 1000 + i};
	for (int i = 0; api_transport_flag_name(i) && n + 1 < sizeof(all) / sizeof(all[0]); i++, n++)
		all[n] = (struct option){api_transport_flag_name(i), required_argument, 0, 2000 + i};
	all[n] = (struct option){0, 0, 0, 0};
	ctl_config_defaults(&c->ctl);
	api_transport_defaults(c);
	flag_at = -1;
	if (util_conf_args(argc, argv, &(util_conf_spec){.opts = all, .refused = refused}, &argc, &argv) < 0)
		return MLREG_EUSAGE;
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", all, NULL)) != -1) {
		flag_at = optind - 1;
		if (o >= 2000) {
			if (api_transport_flag_set(c, api_transport_flag_name(o - 2000), optarg) < 0)
				return MLREG_EUSAGE;
			continue;
		}
		if (o >= 1000) {
			if (ctl_flag_set(&c->ctl, ctl_flag_name(o - 1000), optarg) < 0)
				return MLREG_EUSAGE;
			continue;
		}
		switch (o) {
		case 'C': c->no_controller = true; break;
		case 'c': break; /* read by util_conf_args */
		case 'x':
			if (util_log_format_parse(optarg) < 0)
				return MLREG_EUSAGE;
			break;
		case 'l': c->listen = optarg; break;
		case 'd': c->data_dir = optarg; break;
		case 'p': c->port_file = optarg; break;
		case 't':
		case 'w':
			if (util_parse_i64(optarg, &v) < 0 || v < 1 || v > 256)
				return mlreg_error_set(MLREG_EUSAGE, "--%s needs a number from 1 to 256", o == 't' ? "threads" : "workers");
			*(o == 't' ? &c->threads : &c->workers) = (int)v;
			break;
		case 'j':
		case 'm':
			if (util_parse_i64(optarg, &v) < 0 || v < 1024 || v > (1 << 30))
				return mlreg_error_set(MLREG_EUSAGE, "--%s needs a byte count from 1024", o == 'j' ? "max-json" : "conn-memory");
			*(o == 'j' ? &c->max_json : &c->conn_memory) = (size_t)v;
			break;
		case 'i':
			if (util_duration_ms(optarg, &v) < 0)
				return MLREG_EUSAGE;
			c->idle_timeout_s = (unsigned)((v + 999) / 1000);
			break;
		case 'u':
		case 'g':
			if (util_duration_ms(optarg, &v) < 0 || v < 1)
				return mlreg_error_set(MLREG_EUSAGE, "invalid duration '%s'", optarg);
			*(o == 'u' ? &c->upload_ttl_ms : &c->gc_grace_ms) = v;
			break;
		case 'L':
			if (util_log_level_parse(optarg) < 0)
				return MLREG_EUSAGE;
			break;
		case 'P': c->webhook_allow_private = true; break;
		case 'Y':
			if (util_parse_i64(optarg, &v) < 0 || v < 0 || v > (1LL << 40))
				return mlreg_error_set(MLREG_EUSAGE, "--db-mmap needs a byte count from 0 to 1099511627776");
			c->db_mmap_bytes = v;
			break;
		case 'D':
		case 'N':
			if (util_parse_i64(optarg, &v) < 0 || v < 1 || v > (o == 'D' ? 100000 : 10000000))
				return mlreg_error_set(MLREG_EUSAGE, "--%s needs a number from 1 to %s", o == 'D' ? "lineage-max-depth" : "lineage-max-nodes",
						       o == 'D' ? "100000" : "10000000");
			*(o == 'D' ? &c->lineage_max_depth : &c->lineage_max_nodes) = v;
			break;
		case 'T':
		case 'G':
		case 'B':
		case 'M':
		case 'O': {
			/* a day bounds them all: longer is a typo, and keeps the backoff
			 * arithmetic far from overflow */
			const char *name = o == 'T' ? "webhook-timeout" : o == 'B' ? "webhook-backoff"
					 : o == 'M' ? "webhook-backoff-max" : o == 'G' ? "webhook-shutdown-grace" : "webhook-poll";
			if (util_duration_ms(optarg, &v) < 0 || v < 1 || v > 86400000)
				return mlreg_error_set(MLREG_EUSAGE, "--%s needs a duration from 1ms to 24h (got '%s')", name,
						       optarg);
			*(o == 'T' ? &c->webhook_timeout_ms : o == 'B' ? &c->webhook_backoff_ms
				: o == 'M' ? &c->webhook_backoff_max_ms : o == 'G' ? &c->webhook_grace_ms : &c->webhook_poll_ms) = v;
			break;
		}
		case 'A':
			if (util_parse_i64(optarg, &v) < 0 || v < 1 || v > 1000)
				return mlreg_error_set(MLREG_EUSAGE, "--webhook-max-attempts needs a number from 1 to 1000");
			c->webhook_max_attempts = (int)v;
			break;
		case 'r':
		case 'f':
			if (parse_rate(optarg, o == 'r' ? &c->rate_limit : &c->auth_fail_rate) < 0)
				return mlreg_error_set(MLREG_EUSAGE, "--%s needs a rate like 50/s from 0 to 1000000 (got '%s')",
						       o == 'r' ? "rate-limit" : "auth-fail-rate", optarg);
			break;
		case 'b':
		case 'F':
			if (util_parse_i64(optarg, &v) < 0 || v < 1 || v > 1000000)
				return mlreg_error_set(MLREG_EUSAGE, "--%s needs a number from 1 to 1000000",
						       o == 'b' ? "rate-burst" : "auth-fail-burst");
			*(o == 'b' ? &c->rate_burst : &c->auth_fail_burst) = (double)v;
			break;
		case 'K':
			if (util_parse_i64(optarg, &v) < 0 || v < 1 || v > 1000000)
				return mlreg_error_set(MLREG_EUSAGE, "--rate-limit-keys needs a number from 1 to 1000000");
			c->rate_keys = v;
			break;
		case 'U':
		case 'S':
			if (util_duration_ms(optarg, &v) < 0 || v < 1 || v > 86400000)
				return mlreg_error_set(MLREG_EUSAGE, "--%s needs a duration from 1ms to 24h (got '%s')",
						       o == 'U' ? "token-touch-interval" : "auth-fail-summary-interval", optarg);
			*(o == 'U' ? &c->token_touch_ms : &c->auth_fail_summary_ms) = v;
			break;
		case 'R': c->print_routes = true; break;
		case 'E':
			/* polled by every open deployments page: below 50ms is a storm */
			if (util_duration_ms(optarg, &v) < 0 || v < 50 || v > 3600000)
				return mlreg_error_set(MLREG_EUSAGE, "--console-refresh needs a duration from 50ms to 1h (got '%s')",
						       optarg);
			c->console_refresh_ms = v;
			break;
		case 'Q': c->no_console = true; break;
		case 'h': usage(stdout); exit(0);
		default: return mlreg_error_set(MLREG_EUSAGE, "unknown flag (see mlreg server --help)");
		}
	}
	flag_at = -1;
	if (optind < argc)
		return mlreg_error_set(MLREG_EUSAGE, "unexpected argument '%s'", argv[optind]);
	if (c->tr.max_conns < (unsigned)c->threads)
		return mlreg_error_set(MLREG_EUSAGE, "--max-conns must be at least --threads (%d)", c->threads);
	return 0;
}
