/*
 * log.c - the one-line structured log of the long-running programs
 * (`mlreg server`, `mlreg controller`, `mlreg-node`) on stderr.
 *
 * Every event is exactly one line, whatever its message holds, so a line
 * is an event for journald, `grep` and any log shipper.  Two formats:
 * logfmt (the default, readable on a terminal and parsed by Loki, Vector
 * and friends) and JSON (through cJSON, for pipelines that want it):
 *
 *   ts=2026-11-29T05:30:00.123Z level=info prog=mlreg-server msg="listening"
 *   {"ts":"2026-11-29T05:30:00.123Z","level":"info","prog":"mlreg-server","msg":"listening"}
 *
 * In logfmt the message is always quoted, with backslash, double quote and
 * every control character escaped (\n, \r, \t, else \u00XX), so a newline
 * inside a message can never start a forged line.  A line is built whole
 * in memory and written with one call under a lock, so lines of different
 * threads never interleave.  Messages longer than 8 KiB are cut.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "util.h"

#define MSG_MAX 8192

static util_log_level log_level = UTIL_LOG_INFO;
static int log_json;
static const char *log_prog = "mlreg";
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void util_log_set_level(util_log_level lvl) { log_level = lvl; }

void util_log_set_prog(const char *prog) { log_prog = prog; }

int util_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, level_names[i])) {
			util_log_set_level((util_log_level)i);
			return 0;
		}
	return mlreg_error_set(MLREG_EUSAGE, "invalid --log-level '%s' (debug, info, warn or error)", s);
}

int util_log_format_parse(const char *s)
{
	if (!strcmp(s, "logfmt") || !strcmp(s, "json")) {
		log_json = !strcmp(s, "json");
		return 0;
	}
	return mlreg_error_set(MLREG_EUSAGE, "invalid --log-format '%s' (logfmt or json)", s);
}

size_t util_logfmt_quote(const char *s, char *out, size_t outsz)
{
	size_t n = 0;
	if (outsz < 3)
		return 0;
	out[n++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		size_t k;
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\r')
			snprintf(esc, sizeof(esc), "\\r");
		else if (c == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else if (c < 0x20 || c == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		else {
			esc[0] = (char)c;
			esc[1] = '\0';
		}
		k = strlen(esc);
		if (n + k + 2 > outsz) /* room for the closing quote and NUL */
			break;
		memcpy(out + n, esc, k);
		n += k;
	}
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

/* the JSON line, or NULL when out of memory (the caller falls back to logfmt) */
static char *json_line(const char *ts, const char *level, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "ts", ts) && cJSON_AddStringToObject(o, "level", level) &&
	    cJSON_AddStringToObject(o, "prog", log_prog) && cJSON_AddStringToObject(o, "msg", msg))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

void util_log(util_log_level lvl, const char *fmt, ...)
{
	/* the quoted message is at most 6 bytes per byte of the raw one */
	enum { QUOTED_MAX = MSG_MAX * 6 + 3, LINE_MAX_ = QUOTED_MAX + 256 };
	char ts[40], msg[MSG_MAX], *json = NULL, *quoted = NULL, *line = NULL;
	va_list ap;
	int n = -1;
	if (lvl < log_level)
		return;
	util_time_format(util_now_ms(), ts, sizeof(ts));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!(line = malloc(LINE_MAX_)))
		goto done;
	if (log_json && (json = json_line(ts, level_names[lvl], msg)))
		n = snprintf(line, LINE_MAX_, "%s\n", json);
	else if ((quoted = malloc(QUOTED_MAX))) {
		util_logfmt_quote(msg, quoted, QUOTED_MAX);
		n = snprintf(line, LINE_MAX_, "ts=%s level=%s prog=%s msg=%s\n", ts, level_names[lvl], log_prog, quoted);
	}
	if (n < 0)
		goto done;
	if (n >= LINE_MAX_) { /* a JSON line past the buffer: keep it one line */
		n = LINE_MAX_ - 1;
		line[n - 1] = '\n';
	}
	pthread_mutex_lock(&log_mu);
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_mu);
done:
	free(json);
	free(quoted);
	free(line);
}
