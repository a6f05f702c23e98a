/*
 * standalone.c - `mlreg controller --data DIR [flags]`: the reconciler in
 * its own process, beside a `mlreg server` (typically one started with
 * --no-controller, or as a stand-by for the server's own reconciler).
 *
 * It opens only the registry's database (reg_config.db_only: no directory
 * lock, no blob store), so it can run while the server holds the data
 * directory; SQLite arbitrates the two processes and the lease decides
 * which reconciler acts.  Changes made through the server reach it through
 * the generation counter it polls (--controller-poll).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controller/reconcile.h"
#include "util/conffile.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: mlreg controller [--config FILE] [--data DIR] [flags]\n"
		   "  --config FILE          read flags from FILE first, one 'name = value' a line (flags given\n"
		   "                         here win; docs/operations.md \"Configure\")\n"
		   "  --data DIR             the registry's data directory (default $MLREG_DATA or ./mlreg-data)\n"
		   "  --log-level LEVEL      debug, info, warn or error (default info)\n"
		   "  --log-format FORMAT    logfmt or json: one line per event on stderr (default logfmt)\n");
	ctl_flags_usage(f);
}

/* A flag's value was refused: say so, naming the config file line when the
 * flag (argument `at`) came from --config's file.  Exit status 2. */
static int flag_refused(int at)
{
	util_conf_blame(MLREG_EUSAGE, at);
	fprintf(stderr, "mlreg controller: %s\n", mlreg_error_last());
	return 2;
}

int ctl_standalone_main(int argc, char **argv)
{
	static const struct option base[] = {{"data", required_argument, 0, 'd'},
					     {"log-level", required_argument, 0, 'L'},
					     {"log-format", required_argument, 0, 'x'},
					     {"config", required_argument, 0, 'c'},
					     {"help", no_argument, 0, 'h'}};
	struct option all[64];
	size_t n = 0;
	ctl_config cfg;
	reg_config rc_cfg = {0};
	reg_registry *r = NULL;
	ctl_reconciler *c = NULL;
	const char *data = getenv("MLREG_DATA") ? getenv("MLREG_DATA") : "./mlreg-data";
	sigset_t sigs;
	int o, sig;
	for (; n < sizeof(base) / sizeof(base[0]); n++)
		all[n] = base[n];
	for (int i = 0; ctl_flag_name(i) && n + 1 < sizeof(all) / sizeof(all[0]); i++, n++)
		all[n] = (struct option){ctl_flag_name(i), required_argument, 0, 1000 + i};
	all[n] = (struct option){0, 0, 0, 0};
	ctl_config_defaults(&cfg);
	util_log_set_prog("mlreg-controller");
	if (util_conf_args(argc, argv, &(util_conf_spec){.opts = all}, &argc, &argv) < 0) {
		fprintf(stderr, "mlreg controller: %s\n", mlreg_error_last());
		return 2;
	}
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", all, NULL)) != -1) {
		int at = optind - 1; /* a refused value is blamed on its config file line */
		if (o >= 1000) {
			if (ctl_flag_set(&cfg, ctl_flag_name(o - 1000), optarg) < 0) {
				return flag_refused(at);
			}
			continue;
		}
		switch (o) {
		case 'd': data = optarg; break;
		case 'c': break; /* read by util_conf_args */
		case 'L':
		case 'x':
			if ((o == 'L' ? util_log_level_parse(optarg) : util_log_format_parse(optarg)) < 0) {
				return flag_refused(at);
			}
			break;
		case 'h': usage(stdout); return 0;
		default: fprintf(stderr, "mlreg controller: unknown flag (see mlreg controller --help)\n"); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mlreg controller: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc_cfg.data_dir = data;
	rc_cfg.db_only = true;
	if (reg_open(&rc_cfg, &r) < 0 || ctl_start(r, &cfg, &c) < 0) {
		fprintf(stderr, "mlreg controller: %s\n", mlreg_error_last());
		reg_close(r);
		return 1;
	}
	printf("mlreg controller %s running on %s\n", MLREG_VERSION_STRING, data);
	fflush(stdout);
	while (sigwait(&sigs, &sig) != 0)
		;
	LOG_INFO("signal %d: stopping the reconciler", sig);
	ctl_stop(c);
	reg_close(r);
	curl_global_cleanup();
	return 0;
}
