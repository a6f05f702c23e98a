/*
 * replay_main.c - runs a fuzz target over every file of a corpus folder, so
 * each libFuzzer target doubles as a regression test under ctest without
 * clang's fuzzer runtime.  When a target abort()s on a broken invariant,
 * the input's path is printed first so the failing seed is named in the
 * ctest log.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current_input;

static void on_abort(int sig)
{
	static const char msg[] = "replay: aborted on input ";
	if (current_input) {
		(void)!write(2, msg, sizeof(msg) - 1);
		(void)!write(2, current_input, strlen(current_input));
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	uint8_t *buf;
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	current_input = path;
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	current_input = NULL;
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;
	signal(SIGABRT, on_abort);
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		if (!d) {
			if (run_file(argv[i]) < 0) {
				fprintf(stderr, "cannot read %s\n", argv[i]);
				return 1;
			}
			count++;
			continue;
		}
		while ((de = readdir(d))) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			if (run_file(path) < 0) {
				fprintf(stderr, "cannot read %s\n", path);
				closedir(d);
				return 1;
			}
			count++;
		}
		closedir(d);
	}
	if (count == 0) {
		fprintf(stderr, "no corpus inputs found: a replay that runs nothing proves nothing\n");
		return 1;
	}
	printf("replayed %d inputs\n", count);
	return 0;
}
