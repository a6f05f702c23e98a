/*
 * expr.c - parser and evaluator for `NAME OP NUMBER` comparisons.
 *
 * Hand-written because the grammar is one line long; whitespace around the
 * operator is allowed, names use the metadata-key character set, and numbers
 * go through strtod in the C locale only (we never call setlocale).
 */
#include <string.h>
#include "util/expr.h"
#include "util/util.h"

static const struct {
	const char *s;
	util_op op;
} ops[] = {{">=", UTIL_OP_GE}, {"<=", UTIL_OP_LE}, {"==", UTIL_OP_EQ}, {"!=", UTIL_OP_NE},
	   {">", UTIL_OP_GT},  {"<", UTIL_OP_LT},  {"=", UTIL_OP_EQ}};

const char *util_op_str(util_op op)
{
	switch (op) {
	case UTIL_OP_GE: return ">=";
	case UTIL_OP_LE: return "<=";
	case UTIL_OP_GT: return ">";
	case UTIL_OP_LT: return "<";
	case UTIL_OP_EQ: return "==";
	case UTIL_OP_NE: return "!=";
	}
	return "?";
}

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	memmove(s, s + i, n - i + 1);
}

int util_expr_parse(const char *s, bool want_number, util_expr *out)
{
	util_expr e;
	size_t pos, len;
	memset(&e, 0, sizeof(e));
	if (!s)
		return mlreg_error_set(MLREG_EINVALID, "empty expression");
	len = strlen(s);
	if (len == 0 || len > 500)
		return mlreg_error_set(MLREG_EINVALID, "invalid expression: empty or too long");
	pos = strcspn(s, "<>=!");
	if (pos == len)
		return mlreg_error_set(MLREG_EINVALID, "invalid expression '%s': expected NAME OP VALUE", s);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t ol = strlen(ops[i].s);
		if (strncmp(s + pos, ops[i].s, ol) != 0)
			continue;
		if (ops[i].op == UTIL_OP_EQ && ol == 1 && want_number)
			break; /* '=' alone only for text comparisons */
		if (pos >= sizeof(e.name) || len - pos - ol >= sizeof(e.text))
			return mlreg_error_set(MLREG_EINVALID, "invalid expression '%s': too long", s);
		memcpy(e.name, s, pos);
		e.name[pos] = '\0';
		strcpy(e.text, s + pos + ol);
		trim(e.name);
		trim(e.text);
		e.op = ops[i].op;
		if (!util_key_valid(e.name))
			return mlreg_error_set(MLREG_EINVALID, "invalid expression '%s': bad name '%s'", s, e.name);
		if (strpbrk(e.text, "<>=!") || e.text[0] == '\0')
			return mlreg_error_set(MLREG_EINVALID, "invalid expression '%s': bad value", s);
		e.numeric = util_parse_double(e.text, &e.value) == 0;
		if (want_number && !e.numeric)
			return mlreg_error_set(MLREG_EINVALID, "invalid expression '%s': '%s' is not a number", s, e.text);
		mlreg_error_clear();
		*out = e;
		return 0;
	}
	return mlreg_error_set(MLREG_EINVALID, "invalid expression '%s': unknown operator (use >= <= > < == !=)", s);
}

bool util_expr_eval(const util_expr *e, double a)
{
	switch (e->op) {
	case UTIL_OP_GE: return a >= e->value;
	case UTIL_OP_LE: return a <= e->value;
	case UTIL_OP_GT: return a > e->value;
	case UTIL_OP_LT: return a < e->value;
	case UTIL_OP_EQ: return a == e->value;
	case UTIL_OP_NE: return a != e->value;
	}
	return false;
}
