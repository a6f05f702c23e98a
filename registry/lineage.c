/*
 * lineage.c - what made a version and what was made from it: recording the
 * lineage given at push, and walking the graph for auditors.
 *
 * Lineage is written once, in the transaction that creates the version
 * (so a version never exists without the lineage it was pushed with, and a
 * push whose parent does not resolve stores nothing), and never changed.
 * Datasets are identified by content (sha256) or by URI; their names are
 * labels kept apart.  Walks are breadth-first in C over one read snapshot
 * with a visited set, so each node costs one index probe for its edges and
 * one for its details however many paths reach it (diamonds), and the
 * answer is bounded by a depth and a node cap that the server sets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/registry_int.h"
#include "util/json.h"

#define MAX_DATASETS 256
#define MAX_PARENTS 64
#define MAX_CHANGED 1000

/* ---- validation ---- */
static bool text_ok(const char *s, size_t min, size_t max)
{
	size_t n;
	if (!s)
		return false;
	n = strlen(s);
	if (n < min || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool dataset_name_ok(const char *s)
{
	if (!text_ok(s, 1, 128))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-' || *p == '/'))
			return false;
	return true;
}

static bool hex_ok(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int only(const cJSON *o, const char *what, const char *const *keys)
{
	if (!cJSON_IsObject(o))
		return mlreg_error_set(MLREG_EINVALID, "lineage %s must be an object", what);
	for (const cJSON *m = o->child; m; m = m->next) {
		bool ok = false;
		for (int i = 0; keys[i] && !ok; i++)
			ok = !strcmp(m->string, keys[i]);
		if (!ok)
			return mlreg_error_set(MLREG_EINVALID, "unknown member '%.64s' in lineage %s", m->string, what);
	}
	return 0;
}

static bool opt_string(const cJSON *v, size_t max)
{
	return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && text_ok(v->valuestring, 1, max));
}

static int validate_datasets(const cJSON *a)
{
	static const char *const keys[] = {"name", "digest", "uri", NULL};
	int rc;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > MAX_DATASETS)
		return mlreg_error_set(MLREG_EINVALID, "lineage datasets must be an array of at most %d", MAX_DATASETS);
	for (const cJSON *d = a->child; d; d = d->next) {
		const char *name = util_json_str(d, "name"), *digest = util_json_str(d, "digest"), *uri = util_json_str(d, "uri");
		if ((rc = only(d, "dataset", keys)) < 0)
			return rc;
		if (!dataset_name_ok(name))
			return mlreg_error_set(MLREG_EINVALID, "invalid dataset name '%.64s': 1 to 128 letters, digits, '._-/'",
					       name ? name : "");
		if ((digest != NULL) == (uri != NULL))
			return mlreg_error_set(MLREG_EINVALID, "dataset '%s' needs exactly one of digest and uri", name);
		if (digest && !util_digest_valid(digest))
			return mlreg_error_set(MLREG_EINVALID, "dataset '%s': invalid digest '%.80s'", name, digest);
		if (uri && !util_uri_valid(uri))
			return mlreg_error_set(MLREG_EINVALID,
					       "dataset '%s': invalid uri (scheme://…, RFC 3986 characters, at most 2048 bytes)", name);
	}
	return 0;
}

static int validate_git(const cJSON *g)
{
	static const char *const keys[] = {"commit", "branch", "remote", "dirty", "changed", NULL};
	const char *commit = util_json_str(g, "commit");
	const cJSON *changed = cJSON_GetObjectItem(g, "changed"), *dirty = cJSON_GetObjectItem(g, "dirty");
	int rc;
	if ((rc = only(g, "git", keys)) < 0)
		return rc;
	if (!hex_ok(commit, 40) && !hex_ok(commit, 64))
		return mlreg_error_set(MLREG_EINVALID, "lineage git commit must be 40 or 64 lowercase hex digits");
	if (!opt_string(cJSON_GetObjectItem(g, "branch"), 256) || !opt_string(cJSON_GetObjectItem(g, "remote"), 2048))
		return mlreg_error_set(MLREG_EINVALID, "lineage git branch/remote must be strings (or null)");
	if (dirty && !cJSON_IsBool(dirty))
		return mlreg_error_set(MLREG_EINVALID, "lineage git dirty must be a boolean");
	if (changed && !cJSON_IsNull(changed)) {
		if (!cJSON_IsArray(changed) || cJSON_GetArraySize(changed) > MAX_CHANGED)
			return mlreg_error_set(MLREG_EINVALID, "lineage git changed must be an array of at most %d paths", MAX_CHANGED);
		for (const cJSON *c = changed->child; c; c = c->next)
			if (!cJSON_IsString(c) || !text_ok(c->valuestring, 1, 4096))
				return mlreg_error_set(MLREG_EINVALID, "lineage git changed holds an invalid path");
	}
	return 0;
}

int reg_lineage_validate(const cJSON *l)
{
	static const char *const keys[] = {"datasets", "parents", "git", "run", NULL};
	static const char *const run_keys[] = {"id", "url", NULL};
	const cJSON *d, *p, *g, *run;
	int rc;
	if (!l || cJSON_IsNull(l))
		return 0;
	if ((rc = only(l, "", keys)) < 0)
		return rc;
	if ((d = cJSON_GetObjectItem(l, "datasets")) && (rc = validate_datasets(d)) < 0)
		return rc;
	if ((p = cJSON_GetObjectItem(l, "parents"))) {
		if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) > MAX_PARENTS)
			return mlreg_error_set(MLREG_EINVALID, "lineage parents must be an array of at most %d REFs", MAX_PARENTS);
		for (const cJSON *e = p->child; e; e = e->next) {
			util_ref ref;
			if (!cJSON_IsString(e) || util_ref_parse(e->valuestring, &ref) < 0)
				return mlreg_error_set(MLREG_EINVALID, "invalid parent '%.80s': use MODEL:N, MODEL:STAGE or MODEL@ALIAS",
						       cJSON_IsString(e) ? e->valuestring : "?");
		}
	}
	if ((g = cJSON_GetObjectItem(l, "git")) && (rc = validate_git(g)) < 0)
		return rc;
	if ((run = cJSON_GetObjectItem(l, "run"))) {
		if ((rc = only(run, "run", run_keys)) < 0)
			return rc;
		if (!cJSON_IsString(cJSON_GetObjectItem(run, "id")) || !util_run_id_valid(util_json_str(run, "id")) ||
		    !opt_string(cJSON_GetObjectItem(run, "url"), 2048))
			return mlreg_error_set(MLREG_EINVALID,
					       "lineage run needs an id (1 to 256 of letters, digits, ._:/@+=-) and an optional url");
	}
	return 0;
}

/* ---- recording ---- */
static char *print_or_empty(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

int reg_lineage_record(reg_registry *r, reg_tx *tx, const char *model, int64_t number, int64_t vid,
		       const cJSON *l, cJSON *audit_details)
{
	char key[UTIL_NAME_MAX + 2100];
	int64_t self, other;
	const cJSON *g, *run;
	util_buf parents;
	int rc;
	snprintf(key, sizeof(key), "%s:%lld", model, (long long)number);
	if ((rc = META(r)->lineage_node_ensure(tx, "version", key, vid, NULL, &self)) < 0)
		return rc;
	if (!l || cJSON_IsNull(l))
		return 0;
	for (const cJSON *d = cJSON_GetObjectItem(l, "datasets") ? cJSON_GetObjectItem(l, "datasets")->child : NULL; d;
	     d = d->next) {
		const char *digest = util_json_str(d, "digest");
		if (digest)
			snprintf(key, sizeof(key), "%s", digest);
		else
			snprintf(key, sizeof(key), "uri:%s", util_json_str(d, "uri"));
		if ((rc = META(r)->lineage_node_ensure(tx, "dataset", key, 0, NULL, &other)) < 0 ||
		    (rc = META(r)->dataset_name_add(tx, other, util_json_str(d, "name"))) < 0 ||
		    (rc = META(r)->lineage_edge_add(tx, self, other, "trained_on", NULL)) < 0)
			return rc;
	}
	util_buf_init(&parents, 1 << 16);
	for (const cJSON *p = cJSON_GetObjectItem(l, "parents") ? cJSON_GetObjectItem(l, "parents")->child : NULL; p;
	     p = p->next) {
		util_ref ref;
		int64_t pn, pvid;
		if ((rc = util_ref_parse(p->valuestring, &ref)) < 0 || (rc = reg_resolve_in(r, tx, &ref, &pn, &pvid)) < 0) {
			util_buf_release(&parents);
			return rc == MLREG_ENOTFOUND ? mlreg_error_set(MLREG_ENOTFOUND, "parent '%s' not found: %s", p->valuestring,
								       mlreg_error_last())
						     : rc;
		}
		snprintf(key, sizeof(key), "%s:%lld", ref.model, (long long)pn);
		util_buf_printf(&parents, "%s%s", parents.len ? "," : "", key);
		if ((rc = META(r)->lineage_node_ensure(tx, "version", key, pvid, NULL, &other)) < 0 ||
		    (rc = META(r)->lineage_edge_add(tx, self, other, "derived_from", NULL)) < 0) {
			util_buf_release(&parents);
			return rc;
		}
	}
	if (parents.len)
		cJSON_AddStringToObject(audit_details, "parents", parents.ptr);
	util_buf_release(&parents);
	if ((g = cJSON_GetObjectItem(l, "git"))) {
		cJSON *attrs = cJSON_Duplicate(g, true);
		char *text;
		cJSON_DeleteItemFromObject(attrs, "commit");
		if (!(text = print_or_empty(attrs)))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		rc = META(r)->lineage_node_ensure(tx, "commit", util_json_str(g, "commit"), 0, NULL, &other);
		if (rc == 0)
			rc = META(r)->lineage_edge_add(tx, self, other, "built_from", text);
		free(text);
		if (rc < 0)
			return rc;
		cJSON_AddStringToObject(audit_details, "commit", util_json_str(g, "commit"));
	}
	if ((run = cJSON_GetObjectItem(l, "run"))) {
		cJSON *attrs = cJSON_CreateObject();
		char *text;
		if (util_json_str(run, "url"))
			cJSON_AddStringToObject(attrs, "url", util_json_str(run, "url"));
		if (!(text = print_or_empty(attrs)))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		rc = META(r)->lineage_node_ensure(tx, "run", util_json_str(run, "id"), 0, text, &other);
		if (rc == 0)
			rc = META(r)->lineage_edge_add(tx, self, other, "produced_by", NULL);
		free(text);
		if (rc < 0)
			return rc;
		cJSON_AddStringToObject(audit_details, "run", util_json_str(run, "id"));
	}
	return 0;
}

/* ---- walking ---- */
/* Open-addressing map node id -> (BFS depth, position in visit order). */
typedef struct {
	int64_t *keys;  /* 0 = empty slot (node ids start at 1) */
	int *depth;
	size_t *pos;
	size_t cap, n;
	int64_t *order; /* ids in visit order */
} node_set;

static void set_free(node_set *s)
{
	free(s->keys);
	free(s->depth);
	free(s->pos);
	free(s->order);
	memset(s, 0, sizeof(*s));
}

static int set_init(node_set *s, size_t cap)
{
	s->cap = cap;
	s->n = 0;
	s->keys = calloc(cap, sizeof(*s->keys));
	s->depth = calloc(cap, sizeof(*s->depth));
	s->pos = calloc(cap, sizeof(*s->pos));
	s->order = malloc(cap / 2 * sizeof(*s->order));
	if (!s->keys || !s->depth || !s->pos || !s->order) {
		set_free(s);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	return 0;
}

static size_t slot_of(const node_set *s, int64_t id)
{
	size_t h = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
	while (s->keys[h] && s->keys[h] != id)
		h = (h + 1) & (s->cap - 1);
	return h;
}

static bool set_has(const node_set *s, int64_t id) { return s->keys[slot_of(s, id)] != 0; }

static int set_add(node_set *s, int64_t id, int depth)
{
	size_t h;
	if ((s->n + 1) * 2 > s->cap) {
		node_set bigger;
		int rc;
		if ((rc = set_init(&bigger, s->cap * 2)) < 0)
			return rc;
		for (size_t i = 0; i < s->n; i++) {
			size_t from = slot_of(s, s->order[i]), to = slot_of(&bigger, s->order[i]);
			bigger.keys[to] = s->order[i];
			bigger.depth[to] = s->depth[from];
			bigger.pos[to] = i;
			bigger.order[bigger.n++] = s->order[i];
		}
		set_free(s);
		*s = bigger;
	}
	h = slot_of(s, id);
	if (s->keys[h])
		return 0;
	s->keys[h] = id;
	s->depth[h] = depth;
	s->pos[h] = s->n;
	s->order[s->n++] = id;
	return 1;
}

typedef struct {
	node_set set;
	int64_t current;
	int depth, max_depth;
	int64_t max_nodes;
	bool up, truncated;
	bool no_edges; /* only the nodes are wanted (dataset dependents) */
	cJSON *edges; /* [{"from","to","relation",attrs…}] with numeric ids, named later */
} walk;

static void merge_attrs(cJSON *into, const char *attrs)
{
	cJSON *a = NULL;
	if (!attrs || !strcmp(attrs, "{}") || util_json_parse(attrs, strlen(attrs), 8, &a) < 0 || !cJSON_IsObject(a)) {
		cJSON_Delete(a);
		return;
	}
	for (cJSON *m = a->child; m;) {
		cJSON *next = m->next;
		if (!cJSON_GetObjectItemCaseSensitive(into, m->string))
			cJSON_AddItemToObject(into, m->string, cJSON_DetachItemViaPointer(a, m));
		m = next;
	}
	cJSON_Delete(a);
}

static int on_edge(int64_t other, const char *relation, const char *attrs, void *ctx)
{
	walk *w = ctx;
	cJSON *e;
	int rc;
	if (!set_has(&w->set, other)) {
		if ((int64_t)w->set.n >= w->max_nodes) {
			w->truncated = true;
			return 0;
		}
		if ((rc = set_add(&w->set, other, w->depth + 1)) < 0)
			return rc;
	}
	if (w->no_edges)
		return 0;
	e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "from", (double)(w->up ? w->current : other));
	cJSON_AddNumberToObject(e, "to", (double)(w->up ? other : w->current));
	cJSON_AddStringToObject(e, "relation", relation);
	merge_attrs(e, attrs);
	cJSON_AddItemToArray(w->edges, e);
	return 0;
}

/* Breadth-first from the roots already in w->set. */
static int walk_run(reg_registry *r, reg_tx *tx, walk *w)
{
	for (size_t i = 0; i < w->set.n; i++) {
		int rc;
		w->current = w->set.order[i];
		w->depth = w->set.depth[slot_of(&w->set, w->current)];
		if (w->depth >= w->max_depth)
			continue;
		if ((rc = META(r)->lineage_edges_of(tx, w->current, w->up, on_edge, w)) < 0)
			return rc;
	}
	return 0;
}

/* The stages a version node holds now, from its model's stage holders,
 * read once per model per answer (an impact set is mostly a few models'
 * versions: one query per model instead of one per version). */
typedef struct {
	node_set models;
	cJSON **holders; /* by position in models.order */
	size_t cap;
} holder_cache;

static int add_stages(reg_registry *r, reg_tx *tx, holder_cache *hc, cJSON *n)
{
	cJSON *mid = cJSON_GetObjectItem(n, "model_id"), *stages;
	int64_t model_id = mid ? (int64_t)mid->valuedouble : 0, number;
	size_t pos;
	int rc;
	if (!mid)
		return 0;
	number = (int64_t)cJSON_GetObjectItem(n, "version")->valuedouble;
	cJSON_DeleteItemFromObject(n, "model_id");
	stages = cJSON_AddArrayToObject(n, "stages");
	if (model_id <= 0)
		return 0;
	if ((rc = set_add(&hc->models, model_id, 0)) < 0)
		return rc;
	pos = hc->models.pos[slot_of(&hc->models, model_id)];
	if (rc == 1) {
		if (pos >= hc->cap) {
			size_t nc = hc->cap ? hc->cap * 2 : 16;
			cJSON **nh = realloc(hc->holders, nc * sizeof(*nh));
			if (!nh)
				return mlreg_error_set(MLREG_ENOMEM, "out of memory");
			hc->holders = nh;
			hc->cap = nc;
		}
		hc->holders[pos] = NULL;
		if ((rc = META(r)->lineage_stage_holders(tx, model_id, &hc->holders[pos])) < 0)
			return rc;
	}
	for (const cJSON *h = hc->holders[pos]->child; h; h = h->next)
		if ((int64_t)cJSON_GetArrayItem(h, 1)->valuedouble == number)
			cJSON_AddItemToArray(stages, cJSON_CreateString(cJSON_GetArrayItem(h, 0)->valuestring));
	return 0;
}

/* Build the node list and name the edges' ends by node id. */
static int walk_answer(reg_registry *r, reg_tx *tx, walk *w, cJSON *out)
{
	cJSON *nodes = cJSON_AddArrayToObject(out, "nodes");
	cJSON **byidx = calloc(w->set.n ? w->set.n : 1, sizeof(*byidx));
	holder_cache hc = {0};
	int rc = 0;
	if (!byidx || (rc = set_init(&hc.models, 64)) < 0) {
		free(byidx);
		return rc < 0 ? rc : mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < w->set.n && rc == 0; i++) {
		cJSON *n = NULL;
		if ((rc = META(r)->lineage_node_get(tx, w->set.order[i], &n)) == 0) {
			cJSON_AddNumberToObject(n, "depth", w->set.depth[slot_of(&w->set, w->set.order[i])]);
			byidx[i] = n;
			cJSON_AddItemToArray(nodes, n);
			rc = add_stages(r, tx, &hc, n);
		}
	}
	for (size_t i = 0; i < hc.models.n; i++)
		cJSON_Delete(hc.holders[i]);
	free(hc.holders);
	set_free(&hc.models);
	for (cJSON *e = w->edges->child; e && rc == 0; e = e->next)
		for (int k = 0; k < 2; k++) {
			const char *key = k ? "to" : "from";
			int64_t id = (int64_t)cJSON_GetObjectItem(e, key)->valuedouble;
			const cJSON *n = byidx[w->set.pos[slot_of(&w->set, id)]];
			cJSON_ReplaceItemInObject(e, key, cJSON_CreateString(util_json_str(n, "id")));
		}
	free(byidx);
	cJSON_AddItemToObject(out, "edges", w->edges);
	w->edges = NULL;
	return rc;
}

/* The root nodes of a query, added to the set at depth 0; *root names them. */
static int roots_of(reg_registry *r, reg_tx *tx, const reg_lineage_query *q, walk *w, char *root, size_t rlen)
{
	int64_t id;
	int rc;
	if (q->ref) {
		util_ref ref;
		int64_t number, vid;
		char key[UTIL_NAME_MAX + 32];
		if ((rc = util_ref_parse(q->ref, &ref)) < 0 || (rc = reg_resolve_in(r, tx, &ref, &number, &vid)) < 0)
			return rc;
		snprintf(key, sizeof(key), "%s:%lld", ref.model, (long long)number);
		if ((rc = META(r)->lineage_node_find(tx, "version", key, &id)) < 0)
			return rc;
		snprintf(root, rlen, "version:%s", key);
		return set_add(&w->set, id, 0) < 0 ? MLREG_ENOMEM : 0;
	}
	if (q->commit) {
		if (!hex_ok(q->commit, 40) && !hex_ok(q->commit, 64))
			return mlreg_error_set(MLREG_EINVALID, "commit must be 40 or 64 lowercase hex digits");
		if ((rc = META(r)->lineage_node_find(tx, "commit", q->commit, &id)) < 0)
			return rc;
		snprintf(root, rlen, "commit:%s", q->commit);
		return set_add(&w->set, id, 0) < 0 ? MLREG_ENOMEM : 0;
	}
	if (q->dataset) {
		cJSON *ids = NULL;
		if (!strncmp(q->dataset, "sha256:", 7) || !strncmp(q->dataset, "uri:", 4)) {
			if ((rc = META(r)->lineage_node_find(tx, "dataset", q->dataset, &id)) < 0)
				return rc;
			snprintf(root, rlen, "dataset:%s", q->dataset);
			return set_add(&w->set, id, 0) < 0 ? MLREG_ENOMEM : 0;
		}
		if (!dataset_name_ok(q->dataset))
			return mlreg_error_set(MLREG_EINVALID, "invalid dataset '%.64s': a name, sha256:<hex> or uri:<uri>", q->dataset);
		if ((rc = META(r)->dataset_by_name(tx, q->dataset, &ids)) < 0)
			return rc;
		for (const cJSON *i = ids->child; i && rc >= 0; i = i->next)
			rc = set_add(&w->set, (int64_t)i->valuedouble, 0);
		if (cJSON_GetArraySize(ids) == 0)
			rc = mlreg_error_set(MLREG_ENOTFOUND, "no dataset named '%s'", q->dataset);
		cJSON_Delete(ids);
		snprintf(root, rlen, "dataset:%s", q->dataset);
		return rc < 0 ? rc : 0;
	}
	return mlreg_error_set(MLREG_EINVALID, "lineage needs ref, dataset or commit");
}

static int lineage_walk(reg_registry *r, const reg_lineage_query *q, bool no_edges, cJSON **out)
{
	walk w = {.no_edges = no_edges};
	reg_tx *tx = NULL;
	char root[UTIL_NAME_MAX + 2200];
	cJSON *o;
	int rc;
	w.up = !q->down;
	w.max_depth = (int)(q->depth > 0 && q->depth < q->max_depth ? q->depth : q->max_depth);
	w.max_nodes = q->max_nodes > 0 ? q->max_nodes : 100000;
	if ((rc = set_init(&w.set, 64)) < 0)
		return rc;
	w.edges = cJSON_CreateArray();
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		goto done;
	if ((rc = roots_of(r, tx, q, &w, root, sizeof(root))) == 0 && (rc = walk_run(r, tx, &w)) == 0) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "root", root);
		cJSON_AddStringToObject(o, "direction", w.up ? "up" : "down");
		cJSON_AddNumberToObject(o, "depth", w.max_depth);
		cJSON_AddBoolToObject(o, "truncated", w.truncated);
		if ((rc = walk_answer(r, tx, &w, o)) < 0)
			cJSON_Delete(o);
		else
			*out = o;
	}
	META(r)->commit(tx);
done:
	cJSON_Delete(w.edges);
	set_free(&w.set);
	return rc;
}

int reg_lineage(reg_registry *r, const reg_lineage_query *q, cJSON **out) { return lineage_walk(r, q, false, out); }

int reg_dataset_list(reg_registry *r, const char *name, int64_t limit, int64_t offset, cJSON **out)
{
	reg_tx *tx = NULL;
	int rc;
	if (name && !dataset_name_ok(name))
		return mlreg_error_set(MLREG_EINVALID, "invalid dataset name '%.64s'", name);
	if ((rc = META(r)->begin_read(r->meta, &tx)) < 0)
		return rc;
	rc = META(r)->dataset_list(tx, name, limit, offset, out);
	META(r)->commit(tx);
	return rc;
}

int reg_dataset_get(reg_registry *r, const char *id, int64_t max_nodes, cJSON **out)
{
	reg_lineage_query q = {.dataset = id, .down = true, .max_depth = 1 << 20, .max_nodes = max_nodes};
	cJSON *g = NULL, *o, *deps;
	int rc;
	if (!id || (strncmp(id, "sha256:", 7) != 0 && strncmp(id, "uri:", 4) != 0))
		return mlreg_error_set(MLREG_EINVALID, "dataset id must be sha256:<hex> or uri:<uri>");
	if ((rc = lineage_walk(r, &q, true, &g)) < 0)
		return rc;
	o = cJSON_Duplicate(cJSON_GetArrayItem(cJSON_GetObjectItem(g, "nodes"), 0), true);
	cJSON_AddBoolToObject(o, "truncated", cJSON_IsTrue(cJSON_GetObjectItem(g, "truncated")));
	deps = cJSON_AddArrayToObject(o, "dependents");
	for (const cJSON *n = cJSON_GetObjectItem(g, "nodes")->child; n; n = n->next) {
		cJSON *d;
		/* breadth-first: depth 1 below a dataset is trained on it directly */
		bool direct = cJSON_GetObjectItem(n, "depth")->valuedouble == 1;
		if (strcmp(util_json_str(n, "kind"), "version") != 0)
			continue;
		/* moved, not copied: g is dropped afterwards */
		d = cJSON_CreateObject();
		cJSON_AddItemToObject(d, "model", cJSON_DetachItemFromObject((cJSON *)n, "model"));
		cJSON_AddItemToObject(d, "version", cJSON_DetachItemFromObject((cJSON *)n, "version"));
		cJSON_AddItemToObject(d, "status", cJSON_DetachItemFromObject((cJSON *)n, "status"));
		cJSON_AddItemToObject(d, "stages", cJSON_DetachItemFromObject((cJSON *)n, "stages"));
		cJSON_AddBoolToObject(d, "direct", direct);
		cJSON_AddItemToArray(deps, d);
	}
	cJSON_Delete(g);
	*out = o;
	return 0;
}
