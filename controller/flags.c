/*
 * flags.c - the controller's flags, shared by `mlreg server` (whose
 * reconciler runs in the server process) and `mlreg controller` (a
 * reconciler on its own): one table of names, ranges and help lines, so
 * both commands spell and check every period the same way.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "controller/reconcile.h"

typedef struct {
	const char *name;
	const char *help;
	int64_t min, max; /* milliseconds, or a count for node-parallel */
} flag;

static const flag flags[] = {
	{"resync", "a reconciler pass at least this often (default 10s)", 1, 86400000},
	{"controller-tick", "a pass this often while a rollout moves (default 250ms)", 1, 3600000},
	{"controller-poll", "how often a reconciler looks for changes made by another process (default 1s)", 1, 3600000},
	{"controller-lease", "how long the reconciler's lease lasts without renewal (default 15s)", 100, 3600000},
	{"node-timeout", "index, traffic, unload and metrics calls to a node (default 5s)", 1, 3600000},
	{"node-load-timeout", "a load call to a node (default 5m)", 1, 86400000},
	{"node-backoff", "first retry delay for a node that failed (default 1s)", 1, 3600000},
	{"node-backoff-max", "longest retry delay for a node (default 1m)", 1, 86400000},
	{"node-parallel", "node calls in flight at once (default 64)", 1, 4096},
	{"node-token-file", "file with the bearer token the nodes' repository endpoints need", 0, 0},
	{"node-cacert", "CA certificates (PEM) that verify nodes served over https (default the system's)", 0, 0},
	{NULL, NULL, 0, 0},
};

const char *ctl_flag_name(int i)
{
	return flags[i].name;
}

void ctl_flags_usage(FILE *f)
{
	for (const flag *fl = flags; fl->name; fl++)
		fprintf(f, "  --%-22s %s\n", fl->name, fl->help);
}

int ctl_flag_set(ctl_config *c, const char *name, const char *value)
{
	const flag *fl;
	int64_t v;
	for (fl = flags; fl->name && strcmp(fl->name, name) != 0; fl++)
		;
	if (!fl->name)
		return mlreg_error_set(MLREG_EUSAGE, "unknown flag --%s", name);
	if (!strcmp(name, "node-token-file")) {
		char *tok = NULL;
		if (util_read_token_file(value, &tok) < 0)
			return mlreg_error_set(MLREG_EUSAGE, "--node-token-file: %s", mlreg_error_last());
		c->node_token = tok; /* lives as long as the process */
		return 0;
	}
	if (!strcmp(name, "node-cacert")) {
		if (access(value, R_OK) != 0)
			return mlreg_error_set(MLREG_EUSAGE, "--node-cacert %s: cannot read it", value);
		c->node_cacert = value; /* argv lives as long as the process */
		return 0;
	}
	if (!strcmp(name, "node-parallel")) {
		if (util_parse_i64(value, &v) < 0 || v < fl->min || v > fl->max)
			return mlreg_error_set(MLREG_EUSAGE, "--%s needs a number from %lld to %lld", name,
					       (long long)fl->min, (long long)fl->max);
		c->max_parallel = (int)v;
		return 0;
	}
	if (util_duration_ms(value, &v) < 0 || v < fl->min || v > fl->max)
		return mlreg_error_set(MLREG_EUSAGE, "--%s needs a duration from %lldms to %llds (got '%s')", name,
				       (long long)fl->min, (long long)(fl->max / 1000), value);
	if (!strcmp(name, "resync")) c->resync_ms = v;
	else if (!strcmp(name, "controller-tick")) c->tick_ms = v;
	else if (!strcmp(name, "controller-poll")) c->poll_ms = v;
	else if (!strcmp(name, "controller-lease")) c->lease_ttl_ms = v;
	else if (!strcmp(name, "node-timeout")) c->node_timeout_ms = v;
	else if (!strcmp(name, "node-load-timeout")) c->load_timeout_ms = v;
	else if (!strcmp(name, "node-backoff")) c->backoff_ms = v;
	else if (!strcmp(name, "node-backoff-max")) c->backoff_max_ms = v;
	return 0;
}
