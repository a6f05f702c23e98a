/*
 * fuzz_time.c - libFuzzer target for times and durations from outside:
 * util_time_parse (GET audit ?since=, `mlreg audit --since`: RFC 3339 UTC,
 * a date, or a duration back from now) and util_duration_ms (durations in
 * policies, deployments and flags: 500ms, 30s, 5m, 1h, 2d).
 *
 * Both turn text into milliseconds with strtod and strptime, where a huge
 * value would overflow the integer it lands in.  Checked: an accepted
 * duration is 0 to 9e15 ms; an accepted RFC 3339 time (the form with 'T')
 * formats back with util_time_format and parses again to the same
 * millisecond.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, again[64];
	int64_t ms = 0, ms2 = 0;
	if (size > 256 || !(s = malloc(size + 1)))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (util_duration_ms(s, &ms) == 0 && (ms < 0 || ms > (int64_t)9e15))
		abort();
	if (util_time_parse(s, &ms) == 0 && strchr(s, 'T') && ms >= 0) {
		util_time_format(ms, again, sizeof(again));
		if (util_time_parse(again, &ms2) != 0 || ms2 != ms)
			abort();
	}
	free(s);
	return 0;
}
