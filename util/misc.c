/*
 * misc.c - numbers, durations and times (logging is in log.c).
 *
 * Durations are written the same way everywhere ("500ms", "30s", "5m",
 * "1h"), and every period and timeout in mlreg is a flag parsed here, so
 * tests can run with millisecond timings.  Times on the wire are RFC 3339
 * UTC; inside the database they are integer milliseconds.  Retry backoff
 * (webhooks, the controller's nodes) is one function here, so both back
 * off the same way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util.h"

int util_parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;
	if (!s || !*s)
		return mlreg_error_set(MLREG_EINVALID, "empty number");
	if (!((*s >= '0' && *s <= '9') || *s == '-'))
		return mlreg_error_set(MLREG_EINVALID, "invalid integer '%s'", s);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return mlreg_error_set(MLREG_EINVALID, "invalid integer '%s'", s);
	*out = v;
	return 0;
}

int util_parse_double(const char *s, double *out)
{
	char *end;
	double v;
	if (!s || !*s)
		return mlreg_error_set(MLREG_EINVALID, "empty number");
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return mlreg_error_set(MLREG_EINVALID, "invalid number '%s'", s);
	*out = v;
	return 0;
}

int util_duration_ms(const char *s, int64_t *out_ms)
{
	char *end;
	double v;
	double mult;
	if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return mlreg_error_set(MLREG_EINVALID, "invalid duration '%s'", s ? s : "");
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v) || v < 0)
		return mlreg_error_set(MLREG_EINVALID, "invalid duration '%s'", s);
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s") || !*end)
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else if (!strcmp(end, "h"))
		mult = 3600000;
	else if (!strcmp(end, "d"))
		mult = 86400000;
	else
		return mlreg_error_set(MLREG_EINVALID, "invalid duration '%s': use e.g. 500ms, 30s, 5m, 1h", s);
	if (v * mult > 9.0e15)
		return mlreg_error_set(MLREG_EINVALID, "duration '%s' too large", s);
	*out_ms = (int64_t)llround(v * mult);
	return 0;
}

void util_duration_format(int64_t ms, char *out, size_t outsz)
{
	static const struct {
		int64_t unit;
		const char *name;
	} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms > 0 && ms % units[i].unit == 0) {
			snprintf(out, outsz, "%lld%s", (long long)(ms / units[i].unit), units[i].name);
			return;
		}
	snprintf(out, outsz, "%lldms", (long long)ms);
}

int64_t util_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t attempt, double r)
{
	int64_t d = base_ms;
	/* stop doubling at the ceiling: no overflow whatever attempt is */
	for (int64_t i = 1; i < attempt && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	if (d > max_ms)
		d = max_ms;
	if (!(r >= 0)) /* also NaN */
		r = 0;
	if (r > 1)
		r = 1;
	d = (int64_t)((double)d * (0.5 + 0.5 * r));
	return d > 0 ? d : 1;
}

void util_time_format(int64_t ms, char *out, size_t outsz)
{
	/* floor division, so times before 1970 keep a 0..999 fraction */
	int64_t secs64 = ms / 1000 - (ms % 1000 < 0), frac = ms - secs64 * 1000;
	time_t secs = (time_t)secs64;
	struct tm tm;
	char base[32];
	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outsz, "%s.%03dZ", base, (int)frac);
}

int util_time_parse(const char *s, int64_t *out_ms)
{
	struct tm tm;
	const char *p;
	int64_t d, ms = 0;
	if (!s || !*s)
		return mlreg_error_set(MLREG_EINVALID, "empty time");
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p) {
		memset(&tm, 0, sizeof(tm));
		p = strptime(s, "%Y-%m-%d", &tm);
		if (p && *p == '\0') {
			*out_ms = (int64_t)timegm(&tm) * 1000;
			return 0;
		}
		if (util_duration_ms(s, &d) == 0) {
			*out_ms = util_now_ms() - d;
			return 0;
		}
		return mlreg_error_set(MLREG_EINVALID, "invalid time '%s': use RFC 3339 or a duration such as 24h", s);
	}
	if (*p == '.') {
		int digits = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (digits < 3) {
				ms = ms * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits++ < 3)
			ms *= 10;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return mlreg_error_set(MLREG_EINVALID, "invalid time '%s': only UTC (Z) is accepted", s);
	*out_ms = (int64_t)timegm(&tm) * 1000 + ms;
	return 0;
}
