/*
 * range.c - the two byte-range headers mlreg reads: Range on downloads and
 * Content-Range on upload chunks.
 *
 * libmicrohttpd leaves both to the application.  They are parsed here, in
 * util/, with explicit digit checks and overflow guards rather than bare
 * strtoull, so the parsers can be fuzzed on their own (tests/fuzz).  Only a
 * single range is served; anything else falls back to the whole resource,
 * which RFC 9110 permits.
 */
#include <string.h>
#include "util.h"

/* Parse decimal digits at *p into *out; false on none or on overflow. */
static bool digits(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

int util_range_parse(const char *h, uint64_t size, uint64_t *from, uint64_t *len)
{
	uint64_t a, b;
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	if (*h == '-') { /* suffix: the last n bytes */
		h++;
		if (!digits(&h, &b) || *h)
			return 0;
		if (b == 0 || size == 0)
			return MLREG_ERANGE;
		if (b > size)
			b = size;
		*from = size - b;
		*len = b;
		return 1;
	}
	if (!digits(&h, &a) || *h != '-')
		return 0;
	h++;
	if (*h) {
		if (!digits(&h, &b) || *h || b < a)
			return 0;
	} else {
		b = UINT64_MAX;
	}
	if (a >= size)
		return MLREG_ERANGE;
	if (b >= size)
		b = size - 1;
	*from = a;
	*len = b - a + 1;
	return 1;
}

int util_content_range_parse(const char *h, int64_t *start, int64_t *end)
{
	uint64_t a, b, last;
	if (!strncmp(h, "bytes ", 6))
		h += 6;
	if (!digits(&h, &a) || *h != '-' || a > INT64_MAX)
		return MLREG_EINVALID;
	h++;
	if (!digits(&h, &b) || b < a || b > INT64_MAX)
		return MLREG_EINVALID;
	last = b;
	if (*h == '/') { /* a total, or a star for unknown */
		h++;
		if (*h == '*')
			h++;
		else if (!digits(&h, &b))
			return MLREG_EINVALID;
	}
	if (*h)
		return MLREG_EINVALID;
	*start = (int64_t)a;
	*end = (int64_t)last;
	return 0;
}
