/*
 * buf.c - a growable byte buffer with a hard ceiling, after curl's dynbuf.
 *
 * Every buffer that holds outside input is created with a maximum, so a
 * hostile peer cannot make us allocate without bound; appends past it fail
 * with MLREG_ETOOBIG and leave the content as it was.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

void util_buf_init(util_buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void util_buf_release(util_buf *b)
{
	free(b->ptr);
	util_buf_init(b, b->max);
}

static int grow(util_buf *b, size_t need)
{
	size_t ncap;
	char *p;
	if (need > b->max)
		return mlreg_error_set(MLREG_ETOOBIG, "buffer limit of %zu bytes exceeded", b->max);
	if (need + 1 <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need + 1)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->ptr, ncap);
	if (!p)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	b->ptr = p;
	b->cap = ncap;
	return 0;
}

int util_buf_put(util_buf *b, const void *data, size_t len)
{
	int rc;
	if (len > b->max || b->len > b->max - len)
		return mlreg_error_set(MLREG_ETOOBIG, "buffer limit of %zu bytes exceeded", b->max);
	if ((rc = grow(b, b->len + len)) < 0)
		return rc;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int util_buf_puts(util_buf *b, const char *s) { return util_buf_put(b, s, strlen(s)); }

int util_buf_printf(util_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return mlreg_error_set(MLREG_ERROR, "format failed");
	if ((size_t)n > b->max || b->len > b->max - (size_t)n)
		return mlreg_error_set(MLREG_ETOOBIG, "buffer limit of %zu bytes exceeded", b->max);
	if ((rc = grow(b, b->len + (size_t)n)) < 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *util_buf_detach(util_buf *b)
{
	char *p = b->ptr;
	if (!p) {
		p = calloc(1, 1);
	}
	util_buf_init(b, b->max);
	return p;
}
