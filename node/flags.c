/*
 * flags.c - the flags of mlreg-node: defaults, parsing, --help.
 *
 * Every period, timeout and limit is a flag (tests run with milliseconds,
 * operators tune without rebuilding), each checked against a sane range at
 * start-up: a typo is a usage error (exit 2) before anything is opened.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"
#include "util/conffile.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mlreg-node --cache DIR [flags]\n"
		"  --config FILE            read flags from FILE first, one 'name = value' a line (flags given\n"
		"                           here override it; docs/operations.md); no file is read without it\n"
		"  --listen HOST:PORT       address to serve on (default 127.0.0.1:8471; port 0 = any free port)\n"
		"  --registry URL           registry to fetch versions from (e.g. http://127.0.0.1:8470)\n"
		"  --token-file FILE        file holding the node's registry token (role node)\n"
		"  --cache DIR              cache folder: verified versions and the saved state (required)\n"
		"  --name NAME              node name shown in /v2 and the logs (default the host name)\n"
		"  --admin-token-file FILE  when set, the repository endpoints need this bearer token\n"
		"  --port-file FILE         write the bound port to FILE once listening\n"
		"  --threads N              HTTP threads; inference runs on them (default 2)\n"
		"  --workers N              threads for loads, unloads and traffic changes (default 2)\n"
		"  --max-body BYTES         largest request body (default 16777216)\n"
		"  --max-rows N             largest batch of one infer request (default 10000)\n"
		"  --idle-timeout DUR       close idle connections after DUR (default 60s)\n"
		"  --shadow-queue N         shadow copies waiting at most; past it they are dropped (default 1024;\n"
		"                           0 drops every copy)\n"
		"  --shadow-threads N       threads running shadow predictions (default 1)\n"
		"  --shadow-tolerance X     output difference counted as a disagreement (default 1e-6)\n"
		"  --fetch-timeout DUR      a registry request that stalls this long fails (default 60s)\n"
		"  --connect-timeout DUR    connecting to the registry (default 5s)\n"
		"  --check-timeout DUR      the model check in a child process is killed after DUR (default 60s)\n"
		"  --check-memory BYTES     address-space limit of that child (default 8589934592)\n"
		"  --check-cpu DUR          CPU-time limit of that child (default 60s)\n"
		"  --cacert FILE            CA certificates (PEM) that verify an https --registry\n"
		"  --log-level LEVEL        debug, info, warn or error (default info)\n"
		"  --log-format FORMAT      logfmt or json: one line per event on stderr (default logfmt)\n"
		"  --trust-key PUB.pem      load only versions signed by this Ed25519 key (repeatable, up to 16;\n"
		"                           any one trusted key suffices)\n"
		"  --check DIR              (internal) check the model in DIR and exit: what the child runs\n");
	fputs(util_httpd_transport_usage(), f);
}

static int duration(const char *flag, const char *arg, int64_t min, int64_t max, int64_t *out)
{
	if (util_duration_ms(arg, out) < 0 || *out < min || *out > max)
		return mlreg_error_set(MLREG_EUSAGE, "--%s needs a duration from %lldms to %llds (got '%s')", flag,
				       (long long)min, (long long)(max / 1000), arg);
	return 0;
}

static int number(const char *flag, const char *arg, int64_t min, int64_t max, int64_t *out)
{
	if (util_parse_i64(arg, out) < 0 || *out < min || *out > max)
		return mlreg_error_set(MLREG_EUSAGE, "--%s needs a number from %lld to %lld (got '%s')", flag,
				       (long long)min, (long long)max, arg);
	return 0;
}

/* argument of the flag being handled: a failure there is blamed on its
 * config file line when it came from --config's file */
static int flag_at = -1;

static int parse_flags(int argc, char **argv, node_config *c);

int node_config_parse(int argc, char **argv, node_config *c)
{
	int rc = parse_flags(argc, argv, c);
	return util_conf_blame(rc, flag_at);
}

static int parse_flags(int argc, char **argv, node_config *c)
{
	static const struct option opts[] = {
		{"listen", required_argument, 0, 'l'},       {"registry", required_argument, 0, 'r'},
		{"token-file", required_argument, 0, 'k'},   {"cache", required_argument, 0, 'c'},
		{"name", required_argument, 0, 'n'},         {"admin-token-file", required_argument, 0, 'a'},
		{"port-file", required_argument, 0, 'p'},    {"threads", required_argument, 0, 't'},
		{"workers", required_argument, 0, 'w'},      {"max-body", required_argument, 0, 'b'},
		{"max-rows", required_argument, 0, 'R'},     {"idle-timeout", required_argument, 0, 'i'},
		{"shadow-queue", required_argument, 0, 'q'}, {"shadow-threads", required_argument, 0, 's'},
		{"shadow-tolerance", required_argument, 0, 'o'}, {"fetch-timeout", required_argument, 0, 'f'},
		{"connect-timeout", required_argument, 0, 'C'}, {"check-timeout", required_argument, 0, 'T'},
		{"check-memory", required_argument, 0, 'M'}, {"check-cpu", required_argument, 0, 'U'},
		{"log-level", required_argument, 0, 'L'},    {"check", required_argument, 0, 'K'},
		{"trust-key", required_argument, 0, 'S'},
		{"help", no_argument, 0, 'h'},               {"cacert", required_argument, 0, 299},
		{"tls-cert", required_argument, 0, 300},     {"tls-key", required_argument, 0, 301},
		{"max-conns", required_argument, 0, 302},    {"max-conns-per-ip", required_argument, 0, 303},
		{"request-timeout", required_argument, 0, 304}, {"config", required_argument, 0, 305},
		{"log-format", required_argument, 0, 306},   {0, 0, 0, 0}};
	static const char *const repeatable[] = {"trust-key", NULL}, *const refused[] = {"check", NULL};
	static const char *const transport[] = {"tls-cert", "tls-key", "max-conns", "max-conns-per-ip",
						"request-timeout"};
	int o;
	int64_t v;
	*c = (node_config){
		.listen = "127.0.0.1:8471", .threads = 2, .workers = 2, .max_body = (size_t)16 << 20,
		.max_rows = 10000, .idle_timeout_s = 60, .shadow_queue = 1024, .shadow_threads = 1,
		.shadow_tolerance = 1e-6, .fetch_timeout_ms = 60000, .connect_timeout_ms = 5000,
		.check = {.exe = "/proc/self/exe", .memory_bytes = (uint64_t)8 << 30, .timeout_ms = 60000,
			  .cpu_seconds = 60},
	};
	util_httpd_transport_defaults(&c->tr);
	flag_at = -1;
	if (util_conf_args(argc, argv, &(util_conf_spec){.opts = opts, .repeatable = repeatable, .refused = refused},
			   &argc, &argv) < 0)
		return MLREG_EUSAGE;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int rc = 0;
		flag_at = optind - 1;
		switch (o) {
		case 'l': c->listen = optarg; break;
		case 'r':
			if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
				return mlreg_error_set(MLREG_EUSAGE, "--registry must be an http:// or https:// URL");
			c->registry = optarg;
			break;
		case 'k': c->token_file = optarg; break;
		case 'c': c->cache_dir = optarg; break;
		case 'n': c->name = optarg; break;
		case 'a': c->admin_token_file = optarg; break;
		case 'p': c->port_file = optarg; break;
		case 'K': c->check_dir = optarg; break;
		case 'S':
			if (c->ntrust_keys >= NODE_MAX_TRUST_KEYS)
				return mlreg_error_set(MLREG_EUSAGE, "at most %d --trust-key", NODE_MAX_TRUST_KEYS);
			c->trust_keys[c->ntrust_keys++] = optarg;
			break;
		case 't':
		case 'w':
		case 's':
			if ((rc = number(o == 't' ? "threads" : o == 'w' ? "workers" : "shadow-threads", optarg, 1, 256, &v)) == 0)
				*(o == 't' ? &c->threads : o == 'w' ? &c->workers : &c->shadow_threads) = (int)v;
			break;
		case 'b':
			if ((rc = number("max-body", optarg, 1024, (int64_t)1 << 32, &v)) == 0)
				c->max_body = (size_t)v;
			break;
		case 'R':
			if ((rc = number("max-rows", optarg, 1, 10000000, &v)) == 0)
				c->max_rows = v;
			break;
		case 'q':
			if ((rc = number("shadow-queue", optarg, 0, 1000000, &v)) == 0)
				c->shadow_queue = (int)v;
			break;
		case 'o':
			if (util_parse_double(optarg, &c->shadow_tolerance) < 0 || c->shadow_tolerance < 0)
				return mlreg_error_set(MLREG_EUSAGE, "--shadow-tolerance needs a number >= 0");
			break;
		case 'i':
			if ((rc = duration("idle-timeout", optarg, 1000, 86400000, &v)) == 0)
				c->idle_timeout_s = (unsigned)(v / 1000);
			break;
		case 'f':
			rc = duration("fetch-timeout", optarg, 1, 86400000, &c->fetch_timeout_ms);
			break;
		case 'C':
			rc = duration("connect-timeout", optarg, 1, 3600000, &c->connect_timeout_ms);
			break;
		case 'T':
			rc = duration("check-timeout", optarg, 1, 86400000, &c->check.timeout_ms);
			break;
		case 'U':
			if ((rc = duration("check-cpu", optarg, 1000, 86400000, &v)) == 0)
				c->check.cpu_seconds = v / 1000;
			break;
		case 'M':
			if ((rc = number("check-memory", optarg, (int64_t)16 << 20, (int64_t)1 << 46, &v)) == 0)
				c->check.memory_bytes = (uint64_t)v;
			break;
		case 'L': rc = util_log_level_parse(optarg); break;
		case 299: c->cacert = optarg; break;
		case 305: break; /* read by util_conf_args */
		case 306: rc = util_log_format_parse(optarg); break;
		case 300:
		case 301:
		case 302:
		case 303:
		case 304: rc = util_httpd_transport_flag(&c->tr, transport[o - 300], optarg); break;
		case 'h': usage(stdout); return 1;
		default:
			return mlreg_error_set(MLREG_EUSAGE, "unknown or incomplete flag '%s' (see --help)", argv[optind - 1]);
		}
		if (rc < 0)
			return rc;
	}
	flag_at = -1;
	if (optind < argc)
		return mlreg_error_set(MLREG_EUSAGE, "unexpected argument '%s'", argv[optind]);
	if (!c->check_dir && !c->cache_dir)
		return mlreg_error_set(MLREG_EUSAGE, "--cache DIR is required");
	if (c->tr.max_conns < (unsigned)c->threads)
		return mlreg_error_set(MLREG_EUSAGE, "--max-conns must be at least --threads (%d)", c->threads);
	if (c->registry && !c->token_file)
		return mlreg_error_set(MLREG_EUSAGE, "--registry needs --token-file (the node's registry token)");
	return 0;
}
