/*
 * fuzz_token_scope.c - libFuzzer target for a token's scope as a client
 * sends it and as every request then applies it: the models glob check
 * (reg_scope_glob_valid), the stages list, and reg_scope_allows() with
 * fnmatch on arbitrary model and stage names.
 *
 * Input: four lines - glob, comma-separated stages, model, stage.  Beyond
 * "does not crash": a glob that passes validation holds only the allowed
 * characters; a stage outside the list is never allowed; an unscoped
 * principal allows everything; a literal glob (no metacharacters) allows
 * exactly its own name.  Any failure aborts so libFuzzer keeps the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"

static char *line(char **p)
{
	char *s = *p, *nl;
	if (!s)
		return "";
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = NULL;
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *p, *glob, *stages, *model, *stage;
	reg_principal who, open;
	if (size > 2048)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	glob = line(&p);
	stages = line(&p);
	model = line(&p);
	stage = line(&p);
	memset(&open, 0, sizeof(open));
	if (!reg_scope_allows(&open, model, stage[0] ? stage : NULL))
		abort();
	if (reg_scope_glob_valid(glob) == 0) {
		if (strspn(glob, "abcdefghijklmnopqrstuvwxyz0123456789._/-*?[]!") != strlen(glob) || strlen(glob) > 100)
			abort();
		memset(&who, 0, sizeof(who));
		snprintf(who.models, sizeof(who.models), "%s", glob);
		snprintf(who.stages, sizeof(who.stages), "%s", stages);
		(void)reg_scope_allows(&who, model, stage[0] ? stage : NULL);
		(void)reg_scope_check(&who, model, NULL);
		if (!strpbrk(glob, "*?[") && reg_scope_allows(&who, model, NULL) != (strcmp(glob, model) == 0))
			abort();
		/* (a list longer than the principal holds is cut; the registry
		 * never stores one: stages_join bounds it) */
		if (stages[0] && stage[0] && strlen(stages) < sizeof(who.stages)) {
			/* allowed only when stage is one of the comma-separated items */
			bool listed = false;
			char *copy = strdup(stages), *save = NULL;
			for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
				if (!strcmp(t, stage))
					listed = true;
			free(copy);
			if (!listed && !strchr(stage, ',') && reg_scope_allows(&who, NULL, stage))
				abort();
		}
	}
	free(buf);
	return 0;
}
