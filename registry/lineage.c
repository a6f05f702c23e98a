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
	util_buf_init(&parents, 1 << 20);
	for (const cJSON *d = cJSON_GetObjectItem(l, "datasets") ? cJSON_GetObjectItem(l, "datasets")->child : NULL; d;
	     d = d->next) {
		const char *digest = util_json_str(d, "digest");
		if (digest)
			snprintf(key, sizeof(key), "%s", digest);
		else
			snprintf(key, sizeof(key), "uri:%s", util_json_str(d, "uri"));
		/* the audit entry names every dataset as name=id, so the chain
		 * covers what a version was trained on */
		util_buf_printf(&parents, "%s%s=%s", parents.len ? "," : "", util_json_str(d, "name"), key);
		if ((rc = META(r)->lineage_node_ensure(tx, "dataset", key, 0, NULL, &other)) < 0 ||
		    (rc = META(r)->dataset_name_add(tx, other, util_json_str(d, "name"))) < 0 ||
		    (rc = META(r)->lineage_edge_add(tx, self, other, "trained_on", NULL)) < 0) {
			util_buf_release(&parents);
			return rc;
		}
	}
	if (parents.len)
		cJSON_AddStringToObject(audit_details, "datasets", parents.ptr);
	util_buf_release(&parents);
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
		if (pvid == vid) {
			/* the version being pushed is already visible in its own
			 * transaction: it cannot be its own parent */
			util_buf_release(&parents);
			return mlreg_error_set(MLREG_ENOTFOUND, "parent '%s' not found: it names the version being pushed",
					       p->valuestring);
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
		cJSON_AddBoolToObject(audit_details, "dirty", cJSON_IsTrue(cJSON_GetObjectItem(g, "dirty")));
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

/* An edge as walked: answers hold thousands, so no JSON tree per edge. */
typedef struct {
	int64_t from, to;
	const char *relation; /* one of the static names below */
	char *attrs;          /* the stored attrs object's text, or NULL for {} */
} edge_rec;

static const char *relation_name(const char *r)
{
	static const char *const names[] = {"trained_on", "derived_from", "built_from", "produced_by"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (r && !strcmp(r, names[i]))
			return names[i];
	return "unknown";
}

typedef struct {
	node_set set;
	int64_t current;
	int depth, max_depth;
	int64_t max_nodes;
	bool up, truncated;
	bool no_edges; /* only the nodes are wanted (dataset dependents) */
	edge_rec *edges; /* numeric ends, named when the answer is written */
	size_t nedges, capedges;
} walk;

static void edges_free(walk *w)
{
	for (size_t i = 0; i < w->nedges; i++)
		free(w->edges[i].attrs);
	free(w->edges);
	w->edges = NULL;
	w->nedges = w->capedges = 0;
}

static int on_edge(int64_t other, const char *relation, const char *attrs, void *ctx)
{
	walk *w = ctx;
	edge_rec *e;
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
	if (w->nedges == w->capedges) {
		size_t nc = w->capedges ? w->capedges * 2 : 64;
		edge_rec *ne = realloc(w->edges, nc * sizeof(*ne));
		if (!ne)
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		w->edges = ne;
		w->capedges = nc;
	}
	e = &w->edges[w->nedges];
	e->from = w->up ? w->current : other;
	e->to = w->up ? other : w->current;
	e->relation = relation_name(relation);
	e->attrs = NULL;
	if (attrs && attrs[0] == '{' && strcmp(attrs, "{}") != 0 && !(e->attrs = strdup(attrs)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	w->nedges++;
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

/* The stages a version holds now, from its model's stage holders, read
 * once per model per answer (an impact set is mostly a few models'
 * versions: one query per model instead of one per version). */
typedef struct {
	node_set models;
	cJSON **holders; /* by position in models.order */
	size_t cap;
} holder_cache;

#define MAX_NODE_STAGES 32

static int stages_of(reg_registry *r, reg_tx *tx, holder_cache *hc, int64_t model_id, int64_t number,
		     const char **out, int *n)
{
	size_t pos;
	int rc;
	*n = 0;
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
	for (const cJSON *h = hc->holders[pos]->child; h && *n < MAX_NODE_STAGES; h = h->next)
		if ((int64_t)cJSON_GetArrayItem(h, 1)->valuedouble == number)
			out[(*n)++] = cJSON_GetArrayItem(h, 0)->valuestring;
	return 0;
}

/* One node of an answer: a version from its row (no JSON tree), any other
 * kind as the store's JSON object. */
typedef struct {
	const reg_lineage_row *row; /* set for versions */
	const char *stages[MAX_NODE_STAGES];
	int nstages;
	cJSON *json;                /* set for other kinds */
	int depth;
} node_view;

typedef int (*node_sink)(const node_view *v, void *ctx);

/* Each node in visit order, handed to sink; *ids gets every node's id
 * string, by visit position. */
static int walk_nodes(reg_registry *r, reg_tx *tx, walk *w, node_sink sink, void *ctx, char ***ids_out)
{
	char **ids = calloc(w->set.n ? w->set.n : 1, sizeof(*ids));
	holder_cache hc = {0};
	reg_lineage_row *row = malloc(sizeof(*row));
	int rc = 0;
	if (!ids || !row || (rc = set_init(&hc.models, 64)) < 0) {
		free(ids);
		free(row);
		return rc < 0 ? rc : mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < w->set.n && rc == 0; i++) {
		node_view v = {.depth = w->set.depth[slot_of(&w->set, w->set.order[i])]};
		char idbuf[sizeof(row->key) + 16];
		if ((rc = META(r)->lineage_node_row(tx, w->set.order[i], row)) < 0)
			break;
		snprintf(idbuf, sizeof(idbuf), "%s:%s", row->kind, row->key);
		if (!(ids[i] = strdup(idbuf))) {
			rc = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			break;
		}
		if (!strcmp(row->kind, "version")) {
			v.row = row;
			rc = stages_of(r, tx, &hc, row->model_id, row->number, v.stages, &v.nstages);
		} else if ((rc = META(r)->lineage_node_get(tx, w->set.order[i], &v.json)) == 0) {
			cJSON_AddNumberToObject(v.json, "depth", v.depth);
		}
		if (rc == 0)
			rc = sink(&v, ctx);
		cJSON_Delete(v.json);
	}
	for (size_t i = 0; i < hc.models.n; i++)
		cJSON_Delete(hc.holders[i]);
	free(hc.holders);
	set_free(&hc.models);
	free(row);
	if (rc < 0) {
		for (size_t i = 0; i < w->set.n; i++)
			free(ids[i]);
		free(ids);
		return rc;
	}
	*ids_out = ids;
	return 0;
}

static void ids_free(char **ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Append a JSON value printed compactly, after a comma unless first. */
static int put_json(util_buf *b, const cJSON *v)
{
	char *t = cJSON_PrintUnformatted(v);
	int rc;
	if (!t)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	rc = util_buf_puts(b, b->len > 1 ? "," : "");
	if (rc == 0)
		rc = util_buf_puts(b, t);
	free(t);
	return rc;
}

/* "model":…,"version":N,"status":…,"stages":[…] of a version row */
static int put_version_fields(util_buf *b, const node_view *v)
{
	int rc = util_buf_puts(b, "\"model\":");
	if (rc == 0)
		rc = util_json_put_string(b, v->row->model);
	if (rc == 0)
		rc = util_buf_printf(b, ",\"version\":%lld,\"status\":", (long long)v->row->number);
	if (rc == 0)
		rc = util_json_put_string(b, v->row->status);
	if (rc == 0)
		rc = util_buf_puts(b, ",\"stages\":[");
	for (int i = 0; i < v->nstages && rc == 0; i++) {
		if (i)
			rc = util_buf_puts(b, ",");
		if (rc == 0)
			rc = util_json_put_string(b, v->stages[i]);
	}
	return rc ? rc : util_buf_puts(b, "]");
}

static int sink_text(const node_view *v, void *ctx)
{
	util_buf *b = ctx;
	char id[sizeof(v->row->key) + 16];
	int rc;
	if (v->json)
		return put_json(b, v->json);
	snprintf(id, sizeof(id), "version:%s", v->row->key);
	rc = util_buf_puts(b, b->len > 1 ? ",{\"id\":" : "{\"id\":");
	if (rc == 0)
		rc = util_json_put_string(b, id);
	if (rc == 0)
		rc = util_buf_puts(b, ",\"kind\":\"version\",\"label\":");
	if (rc == 0)
		rc = util_json_put_string(b, v->row->key);
	if (rc == 0)
		rc = util_buf_puts(b, ",");
	if (rc == 0)
		rc = put_version_fields(b, v);
	return rc ? rc : util_buf_printf(b, ",\"depth\":%d}", v->depth);
}

/* [{"from","to","relation",…attrs}] as text, the ends named by node id. */
static int edges_text(walk *w, char **ids, util_buf *b)
{
	int rc = util_buf_puts(b, "[");
	for (size_t i = 0; i < w->nedges && rc == 0; i++) {
		const edge_rec *e = &w->edges[i];
		rc = util_buf_puts(b, i ? ",{\"from\":" : "{\"from\":");
		if (rc == 0)
			rc = util_json_put_string(b, ids[w->set.pos[slot_of(&w->set, e->from)]]);
		if (rc == 0)
			rc = util_buf_puts(b, ",\"to\":");
		if (rc == 0)
			rc = util_json_put_string(b, ids[w->set.pos[slot_of(&w->set, e->to)]]);
		if (rc == 0)
			rc = util_buf_printf(b, ",\"relation\":\"%s\"", e->relation);
		/* the stored attrs object (written by cJSON at push): its members
		 * join the edge's */
		if (rc == 0 && e->attrs) {
			size_t n = strlen(e->attrs);
			if (n > 2 && e->attrs[n - 1] == '}' && (rc = util_buf_puts(b, ",")) == 0)
				rc = util_buf_put(b, e->attrs + 1, n - 2);
		}
		if (rc == 0)
			rc = util_buf_puts(b, "}");
	}
	return rc ? rc : util_buf_puts(b, "]");
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

/* Walk from the query's roots inside one read snapshot; then fn writes the
 * answer while the snapshot is still open. */
typedef int (*walk_fn)(reg_registry *r, reg_tx *tx, walk *w, const char *root, void *ctx);

static int lineage_walk(reg_registry *r, const reg_lineage_query *q, bool no_edges, walk_fn fn, void *ctx)
{
	walk w = {.no_edges = no_edges};
	reg_tx *tx = NULL;
	char root[UTIL_NAME_MAX + 2200];
	int rc;
	w.up = !q->down;
	w.max_depth = (int)(q->depth > 0 && q->depth < q->max_depth ? q->depth : q->max_depth);
	w.max_nodes = q->max_nodes > 0 ? q->max_nodes : 100000;
	if ((rc = set_init(&w.set, 64)) < 0)
		return rc;
	if ((rc = META(r)->begin_read(r->meta, &tx)) == 0) {
		if ((rc = roots_of(r, tx, q, &w, root, sizeof(root))) == 0 && (rc = walk_run(r, tx, &w)) == 0)
			rc = fn(r, tx, &w, root, ctx);
		META(r)->commit(tx);
	}
	edges_free(&w);
	set_free(&w.set);
	return rc;
}

/* The graph answer: nodes and edges are written as JSON text (raw items),
 * not trees - an impact set is tens of thousands of objects. */
static int graph_answer(reg_registry *r, reg_tx *tx, walk *w, const char *root, void *ctx)
{
	cJSON **out = ctx, *o;
	util_buf nodes, edges;
	char **ids = NULL;
	int rc;
	util_buf_init(&nodes, (size_t)1 << 31);
	util_buf_init(&edges, (size_t)1 << 31);
	if ((rc = util_buf_puts(&nodes, "[")) == 0 && (rc = walk_nodes(r, tx, w, sink_text, &nodes, &ids)) == 0 &&
	    (rc = util_buf_puts(&nodes, "]")) == 0 && (rc = edges_text(w, ids, &edges)) == 0) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "root", root);
		cJSON_AddStringToObject(o, "direction", w->up ? "up" : "down");
		cJSON_AddNumberToObject(o, "depth", w->max_depth);
		cJSON_AddBoolToObject(o, "truncated", w->truncated);
		cJSON_AddItemToObject(o, "nodes", cJSON_CreateRaw(nodes.ptr));
		cJSON_AddItemToObject(o, "edges", cJSON_CreateRaw(edges.ptr));
		*out = o;
	}
	ids_free(ids, w->set.n);
	util_buf_release(&nodes);
	util_buf_release(&edges);
	return rc;
}

int reg_lineage(reg_registry *r, const reg_lineage_query *q, cJSON **out)
{
	return lineage_walk(r, q, false, graph_answer, out);
}

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

typedef struct {
	cJSON *root;   /* the dataset node */
	util_buf deps; /* dependents as JSON text */
} deps_ctx;

static int sink_dependent(const node_view *v, void *p)
{
	deps_ctx *d = p;
	int rc;
	if (v->depth == 0) {
		if (!d->root && v->json && !(d->root = cJSON_Duplicate(v->json, true)))
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		return 0;
	}
	if (!v->row)
		return 0;
	rc = util_buf_puts(&d->deps, d->deps.len > 1 ? ",{" : "{");
	if (rc == 0)
		rc = put_version_fields(&d->deps, v);
	/* breadth-first: depth 1 below a dataset is trained on it directly */
	return rc ? rc : util_buf_printf(&d->deps, ",\"direct\":%s}", v->depth == 1 ? "true" : "false");
}

static int dependents_answer(reg_registry *r, reg_tx *tx, walk *w, const char *root, void *ctx)
{
	deps_ctx *d = ctx;
	char **ids = NULL;
	int rc;
	(void)root;
	if ((rc = util_buf_puts(&d->deps, "[")) == 0 && (rc = walk_nodes(r, tx, w, sink_dependent, d, &ids)) == 0)
		rc = util_buf_puts(&d->deps, "]");
	ids_free(ids, w->set.n);
	if (rc == 0 && d->root)
		cJSON_AddBoolToObject(d->root, "truncated", w->truncated);
	return rc;
}

int reg_dataset_get(reg_registry *r, const char *id, int64_t max_nodes, cJSON **out)
{
	reg_lineage_query q = {.dataset = id, .down = true, .max_depth = 1 << 20, .max_nodes = max_nodes};
	deps_ctx d = {0};
	int rc;
	if (!id || (strncmp(id, "sha256:", 7) != 0 && strncmp(id, "uri:", 4) != 0))
		return mlreg_error_set(MLREG_EINVALID, "dataset id must be sha256:<hex> or uri:<uri>");
	util_buf_init(&d.deps, (size_t)1 << 31);
	if ((rc = lineage_walk(r, &q, true, dependents_answer, &d)) == 0) {
		cJSON_AddItemToObject(d.root, "dependents", cJSON_CreateRaw(d.deps.ptr));
		*out = d.root;
		d.root = NULL;
	}
	cJSON_Delete(d.root);
	util_buf_release(&d.deps);
	return rc;
}
