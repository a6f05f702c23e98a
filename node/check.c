/*
 * check.c - a model is opened first in a child process, under resource
 * limits, before it may enter the serving process.
 *
 * A model file is data that a C++ library parses; a corrupt or hostile one
 * can make that library crash, allocate without bound or never return, and
 * in the serving process any of those takes every loaded model down with
 * it.  So the node execs itself (`mlreg-node --check DIR`) with an address
 * space limit, a CPU limit, no core dumps and a wall-clock deadline, and
 * lets the child open the model and predict; only a child that exits 0
 * clears the model for loading.  What the child wrote on stderr (its last
 * line, from the last 4 KiB) becomes the reason, so a refusal says why.
 *
 * The caller is a multi-threaded server, so the child does only
 * async-signal-safe work between _Fork and exec (dup2, close_range,
 * sigaction, sigprocmask, prctl, setrlimit: plain system calls), with every
 * string and number prepared before the fork.  Every descriptor the server
 * holds is closed in the child, CLOEXEC or not; the child gets /dev/null on
 * stdin and stdout and the pipe on stderr, and OMP_NUM_THREADS=1: XGBoost
 * starts an OpenMP pool of one thread per core while it loads a model
 * (whatever its nthread), and on a large machine those threads' stacks and
 * malloc arenas would make the address space limit measure the machine
 * rather than the model; the child predicts on one thread anyway.  The
 * parent waits on a pidfd and the pipe together, so it wakes when the child
 * writes, exits or runs out of time, and kills it with SIGKILL past the
 * deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "node/runtime.h"
#include "util/util.h"

#define TAIL_MAX 4096
/* An AddressSanitizer or ThreadSanitizer build reserves terabytes of shadow
 * address space as it starts, so a child under any RLIMIT_AS dies before
 * main: such builds (tests only) check without the address space limit. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LIMIT_ADDRESS_SPACE false
#else
#define LIMIT_ADDRESS_SPACE true
#endif
/* without a pidfd the parent polls for the child's exit this often */
#define REAP_POLL_MS 20

/* The last TAIL_MAX bytes the child wrote on stderr. */
typedef struct {
	char buf[TAIL_MAX];
	size_t len;
} tail_buf;

static void tail_put(tail_buf *t, const char *p, size_t n)
{
	if (n >= TAIL_MAX) {
		memcpy(t->buf, p + n - TAIL_MAX, TAIL_MAX);
		t->len = TAIL_MAX;
		return;
	}
	if (t->len + n > TAIL_MAX) {
		size_t drop = t->len + n - TAIL_MAX;
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

/* The last non-empty line, printable ASCII only, into out. */
static void tail_last_line(const tail_buf *t, char *out, size_t outsz)
{
	size_t end = t->len, start, n = 0;
	while (end > 0 && (t->buf[end - 1] == '\n' || t->buf[end - 1] == '\r' || t->buf[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && t->buf[start - 1] != '\n')
		start--;
	for (size_t i = start; i < end && n + 1 < outsz; i++)
		out[n++] = (t->buf[i] >= 0x20 && t->buf[i] < 0x7f) ? t->buf[i] : '?';
	out[n] = '\0';
}

/* Read what the pipe has now; *eof when the writers are gone. */
static void drain(int fd, tail_buf *t, bool *eof)
{
	char chunk[4096];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n > 0) {
			tail_put(t, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN)
			*eof = true;
		return;
	}
}

/* A descriptor at 3 or above, so the child's dup2 onto 0..2 cannot clobber
 * one of its own sources. */
static int fd_above_stdio(int fd)
{
	int nfd;
	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

/* Everything the child needs, made before the fork. */
typedef struct {
	const char *exe;
	char *const *argv;
	char *const *envp;
	int devnull, err_w;
	int maxfd;
	pid_t parent;
	sigset_t empty;
	bool set_as, set_cpu;
	struct rlimit as, cpu, core;
	char exec_failed[96];
	size_t exec_failed_len;
} child_plan;

static void put_errno(int e)
{
	char digits[16];
	int n = 0;
	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + e % 10);
		e /= 10;
	} while (e && n < (int)sizeof(digits));
	if (write(2, digits + sizeof(digits) - n, (size_t)n) < 0 || write(2, "\n", 1) < 0)
		return;
}

/* Between fork and exec: async-signal-safe calls only. */
static void __attribute__((noreturn)) child_exec(const child_plan *p)
{
	struct sigaction dfl;
	if (dup2(p->devnull, 0) < 0 || dup2(p->devnull, 1) < 0 || dup2(p->err_w, 2) < 0)
		_exit(126);
	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
		for (int fd = 3; fd < p->maxfd; fd++)
			close(fd);
	/* ignored signals and the blocked mask survive exec: start clean */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &p->empty, NULL);
	/* die with the thread that waits for us */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != p->parent)
		_exit(125);
	if ((p->set_as && setrlimit(RLIMIT_AS, &p->as) != 0) || (p->set_cpu && setrlimit(RLIMIT_CPU, &p->cpu) != 0) ||
	    setrlimit(RLIMIT_CORE, &p->core) != 0) {
		static const char msg[] = "cannot set resource limits\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
		_exit(126);
	}
	execve(p->exe, p->argv, p->envp);
	{
		int e = errno;
		if (write(2, p->exec_failed, p->exec_failed_len) >= 0)
			put_errno(e);
	}
	_exit(127);
}

/* An unprivileged process cannot raise a hard limit: never ask the child
 * for more than the server itself is allowed (setrlimit would fail). */
static void clamp_to_hard(int resource, struct rlimit *want)
{
	struct rlimit now;
	if (getrlimit(resource, &now) != 0 || now.rlim_max == RLIM_INFINITY)
		return;
	if (want->rlim_max > now.rlim_max)
		want->rlim_max = now.rlim_max;
	if (want->rlim_cur > want->rlim_max)
		want->rlim_cur = want->rlim_max;
}

static void duration_text(int64_t ms, char *out, size_t outsz)
{
	if (ms % 1000 == 0)
		snprintf(out, outsz, "%llds", (long long)(ms / 1000));
	else
		snprintf(out, outsz, "%lldms", (long long)ms);
}

static int verdict(const node_check_limits *lim, int status, bool timed_out, const tail_buf *t)
{
	char line[512], extra[128] = "";
	tail_last_line(t, line, sizeof(line));
	if (timed_out) {
		char d[32];
		duration_text(lim->timeout_ms, d, sizeof(d));
		return mlreg_error_set(MLREG_EINVALID, "model check failed: timed out after %s", d);
	}
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *abbrev = sigabbrev_np(sig);
		if (sig == SIGXCPU && lim->cpu_seconds > 0)
			snprintf(extra, sizeof(extra), ", past the cpu limit of %llds", (long long)lim->cpu_seconds);
		return mlreg_error_set(MLREG_EINVALID, "model check failed: killed by signal %d (SIG%s)%s%s%s", sig,
				       abbrev ? abbrev : "?", extra, *line ? ": " : "", line);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return mlreg_error_set(MLREG_EINVALID, "model check failed: exit %d: %s", WEXITSTATUS(status),
			       *line ? line : "no message");
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The server's environment with OMP_NUM_THREADS=1 (a heap array of
 * borrowed strings; the caller frees the array only). */
static char **child_environment(void)
{
	static char omp[] = "OMP_NUM_THREADS=1";
	size_t n = 0, j = 0;
	char **envp;
	while (environ[n])
		n++;
	if (!(envp = calloc(n + 2, sizeof(*envp))))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) != 0)
			envp[j++] = environ[i];
	envp[j++] = omp;
	envp[j] = NULL;
	return envp;
}

int node_check_run(const node_check_limits *lim, const char *dir)
{
	int pfd[2] = {-1, -1}, devnull = -1, pidfd = -1, status = 0, rc;
	char *argv[] = {(char *)lim->exe, (char *)"--check", (char *)dir, NULL};
	char **envp = NULL;
	child_plan plan;
	tail_buf tail = {.len = 0};
	struct rlimit nofile;
	bool eof = false, exited = false, timed_out = false;
	int64_t deadline = lim->timeout_ms > 0 ? now_ms() + lim->timeout_ms : 0;
	pid_t pid;

	if (access(lim->exe, X_OK) != 0)
		return mlreg_error_set(MLREG_EIO, "model check: cannot run '%s': %s", lim->exe, strerror(errno));
	memset(&plan, 0, sizeof(plan));
	if (!(envp = child_environment()))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if (pipe2(pfd, O_CLOEXEC) != 0 || (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		rc = mlreg_error_set(MLREG_EIO, "model check: %s", strerror(errno));
		goto done;
	}
	pfd[0] = fd_above_stdio(pfd[0]);
	pfd[1] = fd_above_stdio(pfd[1]);
	devnull = fd_above_stdio(devnull);
	if (pfd[0] < 0 || pfd[1] < 0 || devnull < 0 || fcntl(pfd[0], F_SETFL, O_NONBLOCK) != 0) {
		rc = mlreg_error_set(MLREG_EIO, "model check: %s", strerror(errno));
		goto done;
	}
	plan.exe = lim->exe;
	plan.argv = argv;
	plan.envp = envp;
	plan.devnull = devnull;
	plan.err_w = pfd[1];
	plan.maxfd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
				     nofile.rlim_cur < 1048576
			     ? (int)nofile.rlim_cur
			     : 1048576;
	plan.parent = getpid();
	sigemptyset(&plan.empty);
	plan.set_as = LIMIT_ADDRESS_SPACE && lim->memory_bytes > 0;
	plan.as.rlim_cur = plan.as.rlim_max = (rlim_t)lim->memory_bytes;
	plan.set_cpu = lim->cpu_seconds > 0;
	plan.cpu.rlim_cur = (rlim_t)lim->cpu_seconds;
	plan.cpu.rlim_max = (rlim_t)lim->cpu_seconds + 1; /* SIGXCPU first, SIGKILL a second later */
	clamp_to_hard(RLIMIT_AS, &plan.as);
	clamp_to_hard(RLIMIT_CPU, &plan.cpu);
	plan.core.rlim_cur = plan.core.rlim_max = 0;
	plan.exec_failed_len = (size_t)snprintf(plan.exec_failed, sizeof(plan.exec_failed), "cannot exec the check: errno ");
	if (plan.exec_failed_len >= sizeof(plan.exec_failed))
		plan.exec_failed_len = sizeof(plan.exec_failed) - 1;

	/* _Fork (glibc 2.34): no atfork handlers run, so no library lock is
	 * taken in the parent or inherited locked by the child, which only
	 * makes system calls before exec anyway */
	pid = _Fork();
	if (pid < 0) {
		rc = mlreg_error_set(MLREG_EIO, "model check: cannot fork: %s", strerror(errno));
		goto done;
	}
	if (pid == 0)
		child_exec(&plan);
	close(pfd[1]);
	pfd[1] = -1;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	while (!exited) {
		struct pollfd fds[2];
		nfds_t n = 0;
		int wait_ms = -1;
		if (!eof)
			fds[n++] = (struct pollfd){.fd = pfd[0], .events = POLLIN};
		if (pidfd >= 0)
			fds[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		else
			wait_ms = REAP_POLL_MS;
		if (deadline) {
			int64_t left = deadline - now_ms();
			if (left < 0)
				left = 0;
			if (wait_ms < 0 || left < wait_ms)
				wait_ms = (int)left;
		}
		if (poll(n ? fds : NULL, n, wait_ms) < 0 && errno != EINTR) {
			rc = mlreg_error_set(MLREG_EIO, "model check: poll: %s", strerror(errno));
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			goto done;
		}
		if (!eof)
			drain(pfd[0], &tail, &eof);
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			exited = true;
		} else if (r < 0 && errno != EINTR) {
			/* someone else reaped it (SIGCHLD ignored?): no verdict */
			rc = mlreg_error_set(MLREG_ERROR, "model check: lost the child process: %s", strerror(errno));
			goto done;
		} else if (deadline && now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			exited = timed_out = true;
		}
	}
	/* what it wrote just before exiting; a grandchild holding the pipe
	 * open does not keep us waiting */
	if (!eof)
		drain(pfd[0], &tail, &eof);
	rc = verdict(lim, status, timed_out, &tail);
done:
	if (pidfd >= 0)
		close(pidfd);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (devnull >= 0)
		close(devnull);
	free(envp);
	return rc;
}

int node_check_main(const char *dir)
{
	node_model *m = NULL;
	node_output o = {0};
	float *x = NULL;
	size_t rows, features;
	int rc;
	if (node_model_open(dir, &m) < 0) {
		fprintf(stderr, "%s\n", mlreg_error_last());
		return 1;
	}
	/* the warm-up predicted zeros; predict all-missing too, the other
	 * default path through every tree */
	features = node_spec_features(&m->spec);
	rows = m->spec.input.shape[0] > 0 ? (size_t)m->spec.input.shape[0] : 1;
	if (!(x = malloc(rows * features * sizeof(float)))) {
		fprintf(stderr, "out of memory\n");
		node_model_close(m);
		return 1;
	}
	for (size_t i = 0; i < rows * features; i++)
		x[i] = NAN;
	rc = node_model_predict(m, x, rows, &o);
	if (rc < 0)
		fprintf(stderr, "prediction on missing values failed: %s\n", mlreg_error_last());
	free(o.data);
	free(x);
	node_model_close(m);
	return rc < 0 ? 1 : 0;
}
