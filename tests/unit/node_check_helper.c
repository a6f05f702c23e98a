/*
 * node_check_helper.c - the program test_node_runtime runs as the "node
 * binary" of node_check_run, so the check's parent side can be tested
 * against children that misbehave on purpose.
 *
 * It takes the same arguments as `mlreg-node --check DIR`.  When DIR's last
 * component names a behaviour below, it does that instead of checking a
 * model (crash, hang, spin, allocate, flood stderr, or report what it was
 * given: limits, descriptors, signal state, environment); otherwise it runs
 * the real node_check_main, exactly as mlreg-node's main does.  A separate
 * program because mlreg-node's main.c is the server's, and because these
 * children must be real processes: the point is what a real exit, signal or
 * timeout looks like from the parent.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include "node/runtime.h"

static int report_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char leaked[512] = "";
	size_t used = 0;
	char target[256];
	ssize_t n;
	if (!d) {
		fprintf(stderr, "cannot list /proc/self/fd\n");
		return 1;
	}
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
			continue;
		used += (size_t)snprintf(leaked + used, sizeof(leaked) - used, " %d", fd);
		if (used >= sizeof(leaked))
			break;
	}
	closedir(d);
	if (*leaked) {
		fprintf(stderr, "leaked descriptors:%s\n", leaked);
		return 1;
	}
	for (int fd = 0; fd <= 1; fd++) {
		char link[32];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (strcmp(target, "/dev/null") != 0) {
			fprintf(stderr, "fd %d is '%s', not /dev/null\n", fd, target);
			return 1;
		}
	}
	return 0;
}

/* SigBlk and SigIgn from /proc/self/status: both must be empty. */
static int report_signals(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int bad = 0;
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if ((!strncmp(line, "SigBlk:", 7) || !strncmp(line, "SigIgn:", 7)) &&
		    strspn(line + 7, "\t 0\n") != strlen(line + 7)) {
			line[strcspn(line, "\n")] = '\0';
			fprintf(stderr, "%s ", line);
			bad = 1;
		}
	fclose(f);
	if (bad)
		fprintf(stderr, "\n");
	return bad;
}

int main(int argc, char **argv)
{
	const char *mode;
	struct rlimit as, cpu, core;
	if (argc != 3 || strcmp(argv[1], "--check") != 0) {
		fprintf(stderr, "usage: %s --check DIR\n", argv[0]);
		return 2;
	}
	mode = strrchr(argv[2], '/') ? strrchr(argv[2], '/') + 1 : argv[2];
	if (!strcmp(mode, "segv")) {
		/* a crash in uninstrumented code: the sanitizers' handler must not
		 * turn it into an exit */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
	}
	if (!strcmp(mode, "sleep"))
		for (;;)
			pause();
	if (!strcmp(mode, "spin"))
		for (volatile unsigned long i = 0;; i++)
			;
	if (!strcmp(mode, "alloc")) {
		/* mmap, not malloc: the sanitizers' allocators have limits of
		 * their own; this asks the kernel, which applies RLIMIT_AS */
		size_t want = (size_t)1 << 30;
		void *p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "cannot allocate %zu bytes\n", want);
			return 1;
		}
		return 0;
	}
	if (!strcmp(mode, "flood")) {
		static char junk[65536];
		memset(junk, 'x', sizeof(junk));
		junk[sizeof(junk) - 1] = '\n';
		for (int i = 0; i < 32; i++)
			if (fwrite(junk, 1, sizeof(junk), stderr) != sizeof(junk))
				return 9;
		fprintf(stderr, "last words\n");
		return 2;
	}
	if (!strcmp(mode, "limits")) {
		getrlimit(RLIMIT_AS, &as);
		getrlimit(RLIMIT_CPU, &cpu);
		getrlimit(RLIMIT_CORE, &core);
		fprintf(stderr, "as=%llu cpu=%llu/%llu core=%llu\n", (unsigned long long)as.rlim_cur,
			(unsigned long long)cpu.rlim_cur, (unsigned long long)cpu.rlim_max, (unsigned long long)core.rlim_cur);
		return 3;
	}
	if (!strcmp(mode, "env")) {
		const char *v = getenv("OMP_NUM_THREADS");
		fprintf(stderr, "OMP_NUM_THREADS=%s MLREG_TEST_MARK=%s\n", v ? v : "(unset)",
			getenv("MLREG_TEST_MARK") ? getenv("MLREG_TEST_MARK") : "(unset)");
		return 4;
	}
	if (!strcmp(mode, "fds"))
		return report_fds();
	if (!strcmp(mode, "signals"))
		return report_signals();
	return node_check_main(argv[2]);
}
