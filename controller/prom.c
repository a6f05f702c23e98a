/*
 * prom.c - a parser for the Prometheus text exposition format 0.0.4, the
 * /metrics answer of every serving node the controller analyses.
 *
 * The text comes from another machine, so the parser treats it as hostile:
 * it walks the buffer once with explicit lengths (no NUL termination
 * assumed, a NUL byte is an error), every line is at most
 * CTL_PROM_MAX_LINE bytes, a sample has at most CTL_PROM_MAX_LABELS labels,
 * at most max_samples samples are kept, and anything outside the grammar
 * is refused with its line number rather than guessed at: label values
 * know only the escapes \\, \" and \n and must be UTF-8, label names may
 * not repeat, values are decimal floats or +Inf, -Inf and NaN (Go's
 * ParseFloat spellings, without its hexadecimal and underscore forms), the
 * optional timestamp is an integer of milliseconds and is dropped.  Lines
 * starting with '#' (HELP, TYPE and other comments) and blank lines are
 * skipped.  Lines whose metric is filtered out by the prefix are still
 * checked, so a damaged answer is refused whatever the caller keeps.
 *
 * Written here rather than taken from a library: it is not JSON or HTTP,
 * and Debian has no C parser for this format.  Each kept sample is one
 * allocation (label pointer arrays, then the strings) so a scrape of a
 * few thousand samples stays cheap; libFuzzer drives it through
 * tests/fuzz/fuzz_prom.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "controller/ctl.h"

/* A sample as found on a line: spans into the text, label values
 * unescaped into a scratch buffer. */
typedef struct {
	const char *name;
	size_t name_len;
	int nlabels;
	struct {
		const char *key;
		size_t key_len;
		size_t val_off, val_len; /* into scratch */
	} l[CTL_PROM_MAX_LABELS];
	char *scratch; /* at least the line's length */
	double value;
} line_sample;

static bool blank(char c) { return c == ' ' || c == '\t'; }
static bool alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool digit(char c) { return c >= '0' && c <= '9'; }

static void skip_blanks(const char **p, const char *end)
{
	while (*p < end && blank(**p))
		(*p)++;
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), 0 when
 * it is not one (overlong forms, surrogates and code points past U+10FFFF
 * are refused, as RFC 3629 says). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A float as Go's ParseFloat reads it, minus hexadecimal and underscores:
 * [+-]?(digits[.digits?]|.digits)([eE][+-]?digits)?, or NaN, Inf,
 * Infinity (any case, Inf and Infinity with an optional sign).  A finite
 * number too large for a double is refused, as Go refuses it. */
static bool parse_float(const char *s, size_t len, double *out)
{
	char buf[128], *end;
	const char *p = s, *e = s + len;
	size_t mant = 0;
	double v;
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!strcasecmp(buf, "nan")) {
		*out = NAN;
		return true;
	}
	{
		const char *w = buf + (buf[0] == '+' || buf[0] == '-');
		if (!strcasecmp(w, "inf") || !strcasecmp(w, "infinity")) {
			*out = buf[0] == '-' ? -INFINITY : INFINITY;
			return true;
		}
	}
	if (p < e && (*p == '+' || *p == '-'))
		p++;
	while (p < e && digit(*p))
		p++, mant++;
	if (p < e && *p == '.') {
		p++;
		while (p < e && digit(*p))
			p++, mant++;
	}
	if (mant == 0)
		return false;
	if (p < e && (*p == 'e' || *p == 'E')) {
		size_t exp = 0;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		while (p < e && digit(*p))
			p++, exp++;
		if (exp == 0)
			return false;
	}
	if (p != e)
		return false;
	errno = 0;
	v = strtod(buf, &end);
	if (*end || (errno == ERANGE && isinf(v)))
		return false;
	*out = v;
	return true;
}

/* A timestamp: an optional '-' and 1 to 19 digits that fit an int64. */
static bool valid_timestamp(const char *s, size_t len)
{
	char buf[24], *end;
	size_t d = len && s[0] == '-';
	if (len - d == 0 || len - d > 19)
		return false;
	for (size_t i = d; i < len; i++)
		if (!digit(s[i]))
			return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	(void)strtoll(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

static int bad(size_t lineno, const char *what)
{
	return mlreg_error_set(MLREG_EINVALID, "invalid metrics text at line %zu: %s", lineno, what);
}

/* One label value from just after its opening quote; *p ends after the
 * closing quote. */
static int label_value(const char **p, const char *end, size_t lineno, line_sample *ls, size_t *off, size_t *vlen)
{
	const char *q = *p;
	size_t start = *off;
	while (q < end && *q != '"') {
		if (*q == '\\') {
			if (q + 1 >= end)
				return bad(lineno, "label value ends inside an escape");
			switch (q[1]) {
			case '\\': ls->scratch[(*off)++] = '\\'; break;
			case '"': ls->scratch[(*off)++] = '"'; break;
			case 'n': ls->scratch[(*off)++] = '\n'; break;
			default: return bad(lineno, "unknown escape in a label value (only \\\\, \\\" and \\n)");
			}
			q += 2;
		} else {
			size_t n = utf8_seq((const unsigned char *)q, (size_t)(end - q));
			if (n == 0)
				return bad(lineno, "label value is not UTF-8");
			memcpy(ls->scratch + *off, q, n);
			*off += n;
			q += n;
		}
	}
	if (q >= end)
		return bad(lineno, "label value without its closing quote");
	*p = q + 1;
	*vlen = *off - start;
	ls->scratch[(*off)++] = '\0';
	return 0;
}

static int labels(const char **pp, const char *end, size_t lineno, line_sample *ls)
{
	const char *p = *pp + 1; /* past '{' */
	size_t off = 0;
	for (;;) {
		const char *key;
		size_t klen, vlen = 0;
		int rc;
		skip_blanks(&p, end);
		if (p < end && *p == '}')
			break;
		if (p >= end || !alpha_(*p))
			return bad(lineno, "expected a label name or '}'");
		key = p;
		while (p < end && (alpha_(*p) || digit(*p)))
			p++;
		klen = (size_t)(p - key);
		for (int i = 0; i < ls->nlabels; i++)
			if (ls->l[i].key_len == klen && !memcmp(ls->l[i].key, key, klen))
				return bad(lineno, "label name repeated");
		if (ls->nlabels == CTL_PROM_MAX_LABELS)
			return bad(lineno, "too many labels");
		skip_blanks(&p, end);
		if (p >= end || *p != '=')
			return bad(lineno, "expected '=' after a label name");
		p++;
		skip_blanks(&p, end);
		if (p >= end || *p != '"')
			return bad(lineno, "expected a quoted label value");
		p++;
		ls->l[ls->nlabels].key = key;
		ls->l[ls->nlabels].key_len = klen;
		ls->l[ls->nlabels].val_off = off;
		if ((rc = label_value(&p, end, lineno, ls, &off, &vlen)) < 0)
			return rc;
		ls->l[ls->nlabels++].val_len = vlen;
		skip_blanks(&p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			break;
		return bad(lineno, "expected ',' or '}' after a label value");
	}
	*pp = p + 1; /* past '}' */
	return 0;
}

/* A sample line, blanks already skipped at its start. */
static int sample_line(const char *p, const char *end, size_t lineno, line_sample *ls)
{
	const char *tok;
	int rc;
	ls->name = p;
	if (p >= end || !(alpha_(*p) || *p == ':'))
		return bad(lineno, "expected a metric name");
	while (p < end && (alpha_(*p) || digit(*p) || *p == ':'))
		p++;
	ls->name_len = (size_t)(p - ls->name);
	ls->nlabels = 0;
	skip_blanks(&p, end);
	if (p < end && *p == '{' && (rc = labels(&p, end, lineno, ls)) < 0)
		return rc;
	skip_blanks(&p, end);
	tok = p;
	while (p < end && !blank(*p))
		p++;
	if (p == tok)
		return bad(lineno, "sample without a value");
	if (!parse_float(tok, (size_t)(p - tok), &ls->value))
		return bad(lineno, "value is not a number");
	skip_blanks(&p, end);
	if (p < end) {
		tok = p;
		while (p < end && !blank(*p))
			p++;
		if (!valid_timestamp(tok, (size_t)(p - tok)))
			return bad(lineno, "timestamp is not an integer of milliseconds");
		skip_blanks(&p, end);
		if (p < end)
			return bad(lineno, "text after the timestamp");
	}
	return 0;
}

/* Copy a parsed line into one allocation: keys[], values[], then the
 * name and the label strings. */
static int keep(const line_sample *ls, ctl_sample *out)
{
	size_t ptrs = 2 * (size_t)ls->nlabels * sizeof(char *), size = ptrs + ls->name_len + 1;
	char *block, *w;
	for (int i = 0; i < ls->nlabels; i++)
		size += ls->l[i].key_len + 1 + ls->l[i].val_len + 1;
	if (!(block = malloc(size)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	out->keys = (char **)(void *)block;
	out->values = out->keys + ls->nlabels;
	w = block + ptrs;
	out->name = w;
	memcpy(w, ls->name, ls->name_len);
	w[ls->name_len] = '\0';
	w += ls->name_len + 1;
	for (int i = 0; i < ls->nlabels; i++) {
		out->keys[i] = w;
		memcpy(w, ls->l[i].key, ls->l[i].key_len);
		w[ls->l[i].key_len] = '\0';
		w += ls->l[i].key_len + 1;
		out->values[i] = w;
		memcpy(w, ls->scratch + ls->l[i].val_off, ls->l[i].val_len + 1);
		w += ls->l[i].val_len + 1;
	}
	out->nlabels = ls->nlabels;
	out->value = ls->value;
	return 0;
}

int ctl_prom_parse(const char *text, size_t len, const char *prefix, size_t max_samples, ctl_samples *out)
{
	ctl_samples got = {0};
	line_sample *ls = NULL;
	size_t cap = 0, lineno = 0, plen = prefix ? strlen(prefix) : 0;
	const char *p = text, *end = text + len;
	int rc = 0;
	if (len && !text)
		return mlreg_error_set(MLREG_EINVALID, "invalid metrics text: none");
	if (!(ls = calloc(1, sizeof(*ls))) || !(ls->scratch = malloc(CTL_PROM_MAX_LINE + 1))) {
		rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end, *q;
		lineno++;
		if ((size_t)(eol - p) > CTL_PROM_MAX_LINE) {
			rc = mlreg_error_set(MLREG_EINVALID, "invalid metrics text at line %zu: longer than %d bytes",
					     lineno, CTL_PROM_MAX_LINE);
			goto done;
		}
		for (q = p; q < eol; q++)
			if ((unsigned char)*q < 0x20 ? *q != '\t' : *q == 0x7f) {
				rc = bad(lineno, "control character");
				goto done;
			}
		q = p;
		skip_blanks(&q, eol);
		if (q < eol && *q != '#') {
			if ((rc = sample_line(q, eol, lineno, ls)) < 0)
				goto done;
			if (ls->name_len >= plen && !memcmp(ls->name, prefix ? prefix : "", plen)) {
				if (got.n == max_samples) {
					rc = mlreg_error_set(MLREG_ETOOBIG, "metrics text has more than %zu samples",
							     max_samples);
					goto done;
				}
				if (got.n == cap) {
					size_t ncap = cap ? cap * 2 : 64;
					ctl_sample *ns;
					if (ncap > max_samples)
						ncap = max_samples;
					if (!(ns = realloc(got.s, ncap * sizeof(*ns)))) {
						rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
						goto done;
					}
					got.s = ns;
					cap = ncap;
				}
				if ((rc = keep(ls, &got.s[got.n])) < 0)
					goto done;
				got.n++;
			}
		}
		p = nl ? nl + 1 : end;
	}
	*out = got;
	got.s = NULL;
	got.n = 0;
done:
	ctl_samples_release(&got);
	if (ls)
		free(ls->scratch);
	free(ls);
	return rc;
}

void ctl_samples_release(ctl_samples *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->s[i].keys); /* the block holding everything of the sample */
	free(s->s);
	s->s = NULL;
	s->n = 0;
}

const char *ctl_sample_label(const ctl_sample *s, const char *key)
{
	for (int i = 0; i < s->nlabels; i++)
		if (!strcmp(s->keys[i], key))
			return s->values[i];
	return NULL;
}
