/*
 * steps.c - rollout steps: the text a person writes ("weight:10,
 * analysis:30s,weight:50,pause,weight:100"), the presets the strategies
 * expand to, and the JSON the deployment row keeps.
 *
 * The text form is what `mlreg deploy create --steps` takes and what
 * `deploy status` prints back, so parse and format are exact inverses
 * (durations go through util_duration_ms and util_duration_format, the one
 * duration syntax of mlreg).  The JSON form is what the reconciler reads
 * from the database on every pass; it is checked as strictly as the text,
 * because a row written by an older or hand-edited mlreg must not make the
 * reconciler act on a step it half understands.  Everything works on
 * caller-owned arrays of at most CTL_MAX_STEPS: no allocation except the
 * cJSON the caller asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controller/ctl.h"
#include "util/json.h"

static const char *kind_name(ctl_step_kind k)
{
	switch (k) {
	case CTL_STEP_WEIGHT: return "weight";
	case CTL_STEP_PAUSE: return "pause";
	case CTL_STEP_ANALYSIS: return "analysis";
	case CTL_STEP_SHADOW: return "shadow";
	}
	return "?";
}

static int kind_of(const char *s, size_t len, ctl_step_kind *out)
{
	static const ctl_step_kind all[] = {CTL_STEP_WEIGHT, CTL_STEP_PAUSE, CTL_STEP_ANALYSIS, CTL_STEP_SHADOW};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *n = kind_name(all[i]);
		if (strlen(n) == len && !strncmp(s, n, len)) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

/* "0".."100", digits only (no sign, no spaces, no leading '+'). */
static bool weight_of(const char *s, int *out)
{
	int v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 3)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 100)
		return false;
	*out = v;
	return true;
}

/* One step of the text form; index is 1-based for the message. */
static int parse_one(const char *tok, int index, ctl_step *out)
{
	const char *colon = strchr(tok, ':');
	const char *arg = colon ? colon + 1 : NULL;
	ctl_step st = {0};
	if (kind_of(tok, colon ? (size_t)(colon - tok) : strlen(tok), &st.kind) < 0)
		return mlreg_error_set(MLREG_EINVALID,
				       "invalid step %d '%s': expected weight:N, pause, pause:D, analysis:D or shadow:D",
				       index, tok);
	if (st.kind == CTL_STEP_WEIGHT) {
		if (!arg || !weight_of(arg, &st.weight))
			return mlreg_error_set(MLREG_EINVALID, "invalid step %d '%s': weight must be 0 to 100", index,
					       tok);
	} else if (st.kind == CTL_STEP_PAUSE && !arg) {
		st.ms = -1; /* until resumed */
	} else if (!arg || util_duration_ms(arg, &st.ms) < 0 || st.ms <= 0) {
		return mlreg_error_set(MLREG_EINVALID,
				       "invalid step %d '%s': %s needs a duration above zero (500ms, 30s, 5m, 1h)", index,
				       tok, kind_name(st.kind));
	}
	*out = st;
	return 0;
}

int ctl_steps_parse(const char *s, ctl_step *out, int *n)
{
	ctl_step steps[CTL_MAX_STEPS];
	char tok[128];
	int count = 0;
	const char *p = s;
	if (!s || !*s)
		return mlreg_error_set(MLREG_EINVALID, "invalid steps: none given");
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int rc;
		/* spaces and tabs around a step are allowed, nothing inside */
		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			return mlreg_error_set(MLREG_EINVALID, "invalid steps '%s': step %d is empty", s, count + 1);
		if (len >= sizeof(tok))
			return mlreg_error_set(MLREG_EINVALID, "invalid step %d: longer than %zu bytes", count + 1,
					       sizeof(tok) - 1);
		if (count == CTL_MAX_STEPS)
			return mlreg_error_set(MLREG_EINVALID, "invalid steps: more than %d", CTL_MAX_STEPS);
		memcpy(tok, p, len);
		tok[len] = '\0';
		if ((rc = parse_one(tok, count + 1, &steps[count])) < 0)
			return rc;
		count++;
		if (!end)
			break;
		p = end + 1;
	}
	memcpy(out, steps, sizeof(steps[0]) * (size_t)count);
	*n = count;
	return 0;
}

int ctl_steps_preset(const char *strategy, int64_t analysis_ms, ctl_step *out, int *n)
{
	const char *text;
	char buf[160], d[32];
	if (!strategy)
		strategy = "canary";
	if (analysis_ms <= 0)
		analysis_ms = CTL_ANALYSIS_DEFAULT_MS;
	util_duration_format(analysis_ms, d, sizeof(d));
	if (!strcmp(strategy, "recreate") || !strcmp(strategy, "rolling")) {
		text = "weight:100";
	} else if (!strcmp(strategy, "canary")) {
		snprintf(buf, sizeof(buf), "weight:10,analysis:%s,weight:50,analysis:%s,weight:100", d, d);
		text = buf;
	} else if (!strcmp(strategy, "blue-green")) {
		snprintf(buf, sizeof(buf), "weight:0,analysis:%s,weight:100", d);
		text = buf;
	} else {
		return mlreg_error_set(MLREG_EINVALID,
				       "unknown strategy '%s' (recreate, rolling, canary or blue-green)", strategy);
	}
	/* through the parser, so a preset is exactly what its text says */
	return ctl_steps_parse(text, out, n);
}

cJSON *ctl_steps_json(const ctl_step *s, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		bool ok = o && cJSON_AddStringToObject(o, "kind", kind_name(s[i].kind));
		if (ok && s[i].kind == CTL_STEP_WEIGHT)
			ok = cJSON_AddNumberToObject(o, "weight", s[i].weight) != NULL;
		else if (ok && s[i].ms < 0)
			ok = cJSON_AddNullToObject(o, "ms") != NULL;
		else if (ok)
			ok = cJSON_AddNumberToObject(o, "ms", (double)s[i].ms) != NULL;
		if (!ok || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

int ctl_steps_from_json(const cJSON *a, ctl_step *out, int *n)
{
	ctl_step steps[CTL_MAX_STEPS];
	int count = 0;
	const cJSON *o;
	if (!cJSON_IsArray(a) || !a->child)
		return mlreg_error_set(MLREG_EINVALID, "invalid steps: expected a non-empty JSON array");
	cJSON_ArrayForEach(o, a)
	{
		const char *kind = util_json_str(o, "kind");
		const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "ms");
		ctl_step st = {0};
		int64_t v = 0;
		if (count == CTL_MAX_STEPS)
			return mlreg_error_set(MLREG_EINVALID, "invalid steps: more than %d", CTL_MAX_STEPS);
		if (!cJSON_IsObject(o) || !kind || kind_of(kind, strlen(kind), &st.kind) < 0)
			return mlreg_error_set(MLREG_EINVALID, "invalid step %d: unknown kind", count + 1);
		if (st.kind == CTL_STEP_WEIGHT) {
			if (util_json_i64(o, "weight", &v) < 0 || v < 0 || v > 100)
				return mlreg_error_set(MLREG_EINVALID, "invalid step %d: weight must be an integer 0 to 100",
						       count + 1);
			st.weight = (int)v;
		} else if (st.kind == CTL_STEP_PAUSE && (!ms || cJSON_IsNull(ms))) {
			st.ms = -1;
		} else {
			if (util_json_i64(o, "ms", &v) < 0 || v <= 0)
				return mlreg_error_set(MLREG_EINVALID, "invalid step %d: %s needs \"ms\" above zero",
						       count + 1, kind);
			st.ms = v;
		}
		steps[count++] = st;
	}
	memcpy(out, steps, sizeof(steps[0]) * (size_t)count);
	*n = count;
	return 0;
}

int ctl_steps_format(const ctl_step *s, int n, util_buf *out)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		const char *sep = i ? "," : "";
		char d[32];
		if (s[i].kind == CTL_STEP_WEIGHT) {
			rc = util_buf_printf(out, "%sweight:%d", sep, s[i].weight);
		} else if (s[i].ms < 0) {
			rc = util_buf_printf(out, "%s%s", sep, kind_name(s[i].kind));
		} else {
			util_duration_format(s[i].ms, d, sizeof(d));
			rc = util_buf_printf(out, "%s%s:%s", sep, kind_name(s[i].kind), d);
		}
	}
	return rc;
}
