/*
 * main.c - `mlreg-node`: the reference serving node (docs/node.md).
 *
 * Start-up order: flags; the check mode (`--check DIR`, what the model
 * check's child process runs, before anything else is opened); signals
 * blocked before any thread starts and taken here with sigwait(); the cache
 * folder locked; the HTTP server listening; then the restore of what the
 * saved state lists runs on a worker, while /v2/health/ready answers "not
 * ready" until it is done.  Shutdown: stop accepting, let loads in progress
 * finish, close connections, drain the shadow queue, free the models.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "node/node.h"

static int read_token(const char *flag, const char *path, char **out)
{
	int rc = util_read_token_file(path, out);
	if (rc < 0)
		return mlreg_error_set(rc == MLREG_ENOTFOUND ? MLREG_EUSAGE : rc, "%s: %s", flag, mlreg_error_last());
	return 0;
}

int main(int argc, char **argv)
{
	node_server s;
	sigset_t sigs;
	char host[256], *registry = NULL;
	int rc, sig, port;

	memset(&s, 0, sizeof(s));
	util_log_set_prog("mlreg-node");
	rc = node_config_parse(argc, argv, &s.cfg);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "mlreg-node: %s\n", mlreg_error_last());
		return 2;
	}
	if (s.cfg.check_dir)
		return node_check_main(s.cfg.check_dir);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&s.persist_mu, NULL);

	if (!s.cfg.name) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "mlreg-node");
		host[sizeof(host) - 1] = '\0';
		s.cfg.name = host;
	}
	if ((s.cfg.token_file && read_token("--token-file", s.cfg.token_file, &s.registry_token) < 0) ||
	    (s.cfg.admin_token_file && read_token("--admin-token-file", s.cfg.admin_token_file, &s.admin_token) < 0)) {
		fprintf(stderr, "mlreg-node: %s\n", mlreg_error_last());
		return 2;
	}
	if (node_trust_load(&s.cfg, &s.trust) < 0) {
		fprintf(stderr, "mlreg-node: %s\n", mlreg_error_last());
		return 2;
	}
	if (s.cfg.registry) {
		size_t n;
		if (!(registry = strdup(s.cfg.registry))) {
			fprintf(stderr, "mlreg-node: out of memory\n");
			return 1;
		}
		for (n = strlen(registry); n > 0 && registry[n - 1] == '/'; n--)
			registry[n - 1] = '\0';
	}
	s.client = (cli_config){.registry = registry, .token = s.registry_token, .token_source = s.cfg.token_file,
				.quiet = true, .timeout_ms = s.cfg.fetch_timeout_ms,
				.connect_timeout_ms = s.cfg.connect_timeout_ms, .cacert = s.cfg.cacert};

	if ((rc = node_cache_open(s.cfg.cache_dir, &s.cache)) < 0) {
		fprintf(stderr, "mlreg-node: %s\n", mlreg_error_last());
		return rc == MLREG_ECONFLICT ? 6 : 1;
	}
	if (node_table_new(&s.table) < 0 ||
	    node_shadow_start(&s.shadow, s.cfg.shadow_queue, s.cfg.shadow_threads, s.cfg.shadow_tolerance) < 0 ||
	    util_workq_start(&s.workers, s.cfg.workers) < 0) {
		fprintf(stderr, "mlreg-node: %s\n", mlreg_error_last());
		return 1;
	}
	node_table_set_restoring(s.table, true);
	if ((port = node_serve(&s)) < 0) {
		fprintf(stderr, "mlreg-node: %s\n", mlreg_error_last());
		return port == MLREG_EUSAGE ? 2 : 1;
	}
	if (s.cfg.port_file) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%d\n", port);
		if (util_write_file_atomic(s.cfg.port_file, buf, strlen(buf), 0644) < 0)
			LOG_WARN("cannot write port file: %s", mlreg_error_last());
	}
	{
		char addr[256];
		snprintf(addr, sizeof(addr), "%s", s.cfg.listen);
		*strrchr(addr, ':') = '\0';
		printf("mlreg-node %s (%s) listening on %s://%s:%d (cache %s, registry %s)\n", MLREG_VERSION_STRING,
		       s.cfg.name, util_httpd_scheme(&s.cfg.tr), addr, port, s.cfg.cache_dir, registry ? registry : "none");
		fflush(stdout);
	}
	util_workq_submit(s.workers, node_restore, &s);

	while (sigwait(&sigs, &sig) != 0)
		;
	LOG_INFO("signal %d: shutting down", sig);
	MHD_quiesce_daemon(s.daemon);
	util_workq_stop(s.workers); /* loads in progress finish and answer */
	MHD_stop_daemon(s.daemon);
	util_httpd_transport_release(&s.cfg.tr);
	node_shadow_stop(s.shadow);
	node_table_free(s.table);
	node_runtime_shutdown();
	node_cache_close(s.cache);
	pthread_mutex_destroy(&s.persist_mu);
	free(s.registry_token);
	free(s.admin_token);
	node_trust_free(s.trust);
	free(registry);
	curl_global_cleanup();
	return 0;
}
