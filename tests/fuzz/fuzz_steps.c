/*
 * fuzz_steps.c - libFuzzer target for the rollout steps grammar
 * (controller/steps.c: "weight:10,analysis:30s,pause,shadow:5m,…"), which
 * `deploy create --steps` hands the API from outside.
 *
 * What parses must format back to text that parses to the same steps, and
 * survive the JSON round trip the registry's snapshot uses; anything else
 * aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "controller/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const ctl_step *x, const ctl_step *y, int n)
{
	for (int i = 0; i < n; i++) {
		if (x[i].kind != y[i].kind || x[i].ms != y[i].ms)
			return 0;
		if (x[i].kind == CTL_STEP_WEIGHT && x[i].weight != y[i].weight)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ctl_step a[CTL_MAX_STEPS], b[CTL_MAX_STEPS], c[CTL_MAX_STEPS];
	int na = 0, nb = 0, nc = 0;
	char *s = malloc(size + 1);
	util_buf text;
	cJSON *j;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ctl_steps_parse(s, a, &na) == 0) {
		util_buf_init(&text, 1 << 20);
		if (ctl_steps_format(a, na, &text) < 0 || ctl_steps_parse(text.ptr, b, &nb) < 0 || na != nb || !same(a, b, na))
			abort();
		j = ctl_steps_json(a, na);
		if (!j || ctl_steps_from_json(j, c, &nc) < 0 || nc != na || !same(a, c, na))
			abort();
		cJSON_Delete(j);
		util_buf_release(&text);
	}
	free(s);
	return 0;
}
