/*
 * fuzz_expr.c - libFuzzer target for util_expr_parse in both modes
 * (numeric, as gates and search filters use it; text, as tag filters do).
 *
 * An accepted expression must have a valid key as its name, a finite value
 * when numeric, and must parse to the same thing when printed back as
 * "NAME OP VALUE" (without spaces).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/expr.h"
#include "util/util.h"

static void check(const char *s, bool want_number)
{
	util_expr e, e2;
	char again[600];
	if (util_expr_parse(s, want_number, &e) != 0)
		return;
	if (!util_key_valid(e.name) || e.text[0] == '\0' || strpbrk(e.text, "<>=!"))
		abort();
	if (want_number && (!e.numeric || !isfinite(e.value)))
		abort();
	(void)util_expr_eval(&e, e.value);
	/* printed without spaces: the length limits count the untrimmed text,
	 * so "NAME == TEXT" could be refused where "NAME==TEXT" fits */
	snprintf(again, sizeof(again), "%s%s%s", e.name, util_op_str(e.op), e.text);
	if (strlen(again) > 500)
		return; /* '=' printed as '==' may pass the 500-byte limit */
	if (util_expr_parse(again, want_number, &e2) != 0 || e2.op != e.op || strcmp(e2.name, e.name) != 0 ||
	    strcmp(e2.text, e.text) != 0 || e2.numeric != e.numeric)
		abort();
	if (e.numeric && !(e2.value == e.value || (isnan(e.value) && isnan(e2.value))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	if (size > 2048)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check(s, true);
	check(s, false);
	free(s);
	return 0;
}
