/*
 * expr.h - the one comparison grammar of mlreg: `NAME OP NUMBER` with OP in
 * >= <= > < == != .  Search filters, gate policies and rollout analysis all
 * parse with this, so a threshold means the same thing everywhere.
 */
#ifndef MLREG_UTIL_EXPR_H
#define MLREG_UTIL_EXPR_H

#include <stdbool.h>

typedef enum { UTIL_OP_GE, UTIL_OP_LE, UTIL_OP_GT, UTIL_OP_LT, UTIL_OP_EQ, UTIL_OP_NE } util_op;

typedef struct {
	char name[256];
	util_op op;
	double value;     /* numeric comparisons */
	char text[256];   /* right-hand side as written */
	bool numeric;     /* false when the right side is not a number */
} util_expr;

/* Parse "name op value". With want_number the value must be a finite
 * number; otherwise any non-empty text is kept in `text` (and `=` is
 * accepted as `==`). */
int util_expr_parse(const char *s, bool want_number, util_expr *out);
bool util_expr_eval(const util_expr *e, double actual);
const char *util_op_str(util_op op);

#endif
