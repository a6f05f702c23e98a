/*
 * meta_sqlite_lineage.c - the lineage graph in the SQLite metadata store.
 *
 * Nodes are (kind, key) rows with integer ids; edges are (src, dst,
 * relation) rows keyed by src, with a second index on dst, so walking up
 * (what made this version) and down (what was made from this) are both
 * one index range per node visited.  The walk itself is in
 * registry/lineage.c, in C, with a visited set: it bounds work by the
 * number of distinct nodes, where a recursive CTE carrying depths would
 * revisit every node once per path in a graph full of diamonds.  Node
 * details for answers (model, number, status, current stages, dataset
 * names) are read here, one primary-key probe each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry/meta_sqlite.h"
#include "util/json.h"

static sqlite3_stmt *prep(reg_tx *tx, const char *sql) { return sq_stmt(W(tx), sql); }

static int node_find(reg_tx *tx, const char *kind, const char *key, int64_t *id)
{
	static const char sql[] = "SELECT id FROM lineage_nodes WHERE kind=? AND key=?";
	sqlite3_stmt *st = prep(tx, sql);
	int rc = MLREG_ENOTFOUND;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, kind);
	sq_bind_text(st, 2, key);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc == 0 ? 0 : mlreg_error_set(MLREG_ENOTFOUND, "no %s '%s' in the lineage graph", kind, key);
}

static int node_ensure(reg_tx *tx, const char *kind, const char *key, int64_t version_id, const char *attrs,
		       int64_t *id)
{
	static const char ins[] =
		"INSERT INTO lineage_nodes(kind, key, version_id, attrs) VALUES(?,?,?,?) ON CONFLICT(kind, key) DO NOTHING";
	sqlite3_stmt *st = prep(tx, ins);
	int rc;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, kind);
	sq_bind_text(st, 2, key);
	if (version_id > 0)
		sqlite3_bind_int64(st, 3, version_id);
	sq_bind_text(st, 4, attrs ? attrs : "{}");
	if ((rc = sq_step_done(st, W(tx)->db, "insert lineage node")) < 0)
		return rc;
	return node_find(tx, kind, key, id);
}

static int edge_add(reg_tx *tx, int64_t src, int64_t dst, const char *relation, const char *attrs)
{
	static const char sql[] =
		"INSERT INTO lineage_edges(src, dst, relation, attrs) VALUES(?,?,?,?) ON CONFLICT DO NOTHING";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, src);
	sqlite3_bind_int64(st, 2, dst);
	sq_bind_text(st, 3, relation);
	sq_bind_text(st, 4, attrs ? attrs : "{}");
	return sq_step_done(st, W(tx)->db, "insert lineage edge");
}

static int name_add(reg_tx *tx, int64_t node_id, const char *name)
{
	static const char sql[] = "INSERT INTO dataset_names(name, node_id) VALUES(?,?) ON CONFLICT DO NOTHING";
	sqlite3_stmt *st = prep(tx, sql);
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, node_id);
	return sq_step_done(st, W(tx)->db, "name dataset");
}

static int by_name(reg_tx *tx, const char *name, cJSON **ids)
{
	static const char sql[] = "SELECT node_id FROM dataset_names WHERE name=? ORDER BY node_id";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	if (!st)
		return MLREG_EIO;
	sq_bind_text(st, 1, name);
	a = cJSON_CreateArray();
	while (sqlite3_step(st) == SQLITE_ROW)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)sqlite3_column_int64(st, 0)));
	sqlite3_reset(st);
	*ids = a;
	return 0;
}

static int edges_of(reg_tx *tx, int64_t id, bool up, reg_edge_cb cb, void *ctx)
{
	int last = SQLITE_DONE;
	static const char usql[] = "SELECT dst, relation, attrs FROM lineage_edges WHERE src=?";
	static const char dsql[] = "SELECT src, relation, attrs FROM lineage_edges WHERE dst=?";
	sqlite3_stmt *st = prep(tx, up ? usql : dsql);
	int rc = 0;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, id);
	/* the callback only collects: safe to run on the live row */
	while (rc == 0 && (last = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2), ctx);
	/* an edge missed here would be a version left out of an impact set */
	if (rc == 0)
		return sq_end(st, last, "walk lineage edges");
	sqlite3_reset(st);
	return rc;
}

static void add_names(reg_tx *tx, int64_t id, cJSON *o)
{
	static const char sql[] = "SELECT name FROM dataset_names WHERE node_id=? ORDER BY name";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a = cJSON_AddArrayToObject(o, "names");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW)
		cJSON_AddItemToArray(a, sq_col_json_str(st, 0));
	sqlite3_reset(st);
}

static int stage_holders(reg_tx *tx, int64_t model_id, cJSON **out)
{
	int last;
	/* the top of each configured stage's stack: one primary-key probe each */
	static const char sql[] =
		"SELECT g.name, (SELECT v.number FROM stage_stack s JOIN versions v ON v.id=s.version_id"
		" WHERE s.model_id=?1 AND s.stage=g.name ORDER BY s.pos DESC LIMIT 1) FROM stages g ORDER BY g.position";
	sqlite3_stmt *st = prep(tx, sql);
	cJSON *a;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, model_id);
	a = cJSON_CreateArray();
	while ((last = sqlite3_step(st)) == SQLITE_ROW)
		if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
			cJSON *e = cJSON_CreateArray();
			cJSON_AddItemToArray(e, sq_col_json_str(st, 0));
			cJSON_AddItemToArray(e, cJSON_CreateNumber((double)sqlite3_column_int64(st, 1)));
			cJSON_AddItemToArray(a, e);
		}
	if (sq_end(st, last, "read stage holders") < 0) {
		cJSON_Delete(a);
		return MLREG_EIO;
	}
	*out = a;
	return 0;
}

static int node_get(reg_tx *tx, int64_t id, cJSON **out)
{
	static const char sql[] =
		"SELECT kind, key, attrs FROM lineage_nodes WHERE id=?";
	sqlite3_stmt *st = prep(tx, sql);
	char buf[4200], kind[16], key[2200];
	cJSON *o, *attrs = NULL;
	const char *at;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return mlreg_error_set(MLREG_ENOTFOUND, "lineage node %lld not found", (long long)id);
	}
	/* copies: the row's texts die with the reset below, before the
	 * names query */
	snprintf(kind, sizeof(kind), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(key, sizeof(key), "%s", (const char *)sqlite3_column_text(st, 1));
	at = (const char *)sqlite3_column_text(st, 2);
	o = cJSON_CreateObject();
	snprintf(buf, sizeof(buf), "%s:%s", kind, key);
	cJSON_AddStringToObject(o, "id", buf);
	cJSON_AddStringToObject(o, "kind", kind);
	if (!strcmp(kind, "dataset")) {
		bool uri = !strncmp(key, "uri:", 4);
		cJSON_AddStringToObject(o, uri ? "uri" : "digest", uri ? key + 4 : key);
	} else if (!strcmp(kind, "commit")) {
		cJSON_AddStringToObject(o, "sha", key);
		snprintf(buf, sizeof(buf), "%.12s", key);
		cJSON_AddStringToObject(o, "label", buf);
	} else {
		cJSON_AddStringToObject(o, "label", key);
	}
	if (at && util_json_parse(at, strlen(at), 8, &attrs) == 0 && cJSON_IsObject(attrs)) {
		for (cJSON *a = attrs->child; a;) {
			cJSON *next = a->next;
			if (!cJSON_GetObjectItemCaseSensitive(o, a->string))
				cJSON_AddItemToObject(o, a->string, cJSON_DetachItemViaPointer(attrs, a));
			a = next;
		}
	}
	cJSON_Delete(attrs);
	sqlite3_reset(st);
	if (!strcmp(kind, "dataset")) {
		cJSON *names;
		add_names(tx, id, o);
		names = cJSON_GetObjectItem(o, "names");
		if (cJSON_GetArraySize(names) > 0) {
			size_t used = 0;
			buf[0] = '\0';
			for (cJSON *n = names->child; n && used < sizeof(buf) - 300; n = n->next)
				used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? ", " : "", n->valuestring);
		} else {
			snprintf(buf, sizeof(buf), "%.80s", key);
		}
		cJSON_AddStringToObject(o, "label", buf);
	}
	*out = o;
	return 0;
}

static int node_row(reg_tx *tx, int64_t id, reg_lineage_row *out)
{
	static const char sql[] =
		"SELECT n.kind, n.key, v.model_id, m.name, v.number, v.status FROM lineage_nodes n"
		" LEFT JOIN versions v ON v.id=n.version_id LEFT JOIN models m ON m.id=v.model_id WHERE n.id=?";
	sqlite3_stmt *st = prep(tx, sql);
	const char *t;
	if (!st)
		return MLREG_EIO;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return mlreg_error_set(MLREG_ENOTFOUND, "lineage node %lld not found", (long long)id);
	}
	snprintf(out->kind, sizeof(out->kind), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(out->key, sizeof(out->key), "%s", (const char *)sqlite3_column_text(st, 1));
	out->model_id = sqlite3_column_int64(st, 2);
	t = (const char *)sqlite3_column_text(st, 3);
	snprintf(out->model, sizeof(out->model), "%s", t ? t : "");
	out->number = sqlite3_column_int64(st, 4);
	t = (const char *)sqlite3_column_text(st, 5);
	snprintf(out->status, sizeof(out->status), "%s", t ? t : "");
	sqlite3_reset(st);
	return 0;
}

static int dataset_list(reg_tx *tx, const char *name, int64_t limit, int64_t offset, cJSON **out)
{
	/* the page's ids first (an index range), then per dataset one count
	 * through the covering dst index: no pass over every dataset */
	static const char all[] =
		"SELECT id, key FROM lineage_nodes WHERE kind='dataset' ORDER BY id LIMIT ?2 OFFSET ?3";
	static const char named[] =
		"SELECT n.id, n.key FROM dataset_names d JOIN lineage_nodes n ON n.id=d.node_id WHERE d.name=?1"
		" ORDER BY d.node_id LIMIT ?2 OFFSET ?3";
	static const char count[] = "SELECT COUNT(*) FROM lineage_edges WHERE dst=? AND relation='trained_on'";
	sqlite3_stmt *st = prep(tx, name ? named : all);
	cJSON *o, *a;
	int64_t n = 0;
	int last;
	if (!st)
		return MLREG_EIO;
	if (name)
		sq_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, limit + 1);
	sqlite3_bind_int64(st, 3, offset);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "datasets");
	while ((last = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 1);
		bool uri = !strncmp(key, "uri:", 4);
		cJSON *e;
		if (n++ == limit)
			break;
		e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "_node", (double)sqlite3_column_int64(st, 0));
		cJSON_AddStringToObject(e, "id", key);
		cJSON_AddStringToObject(e, uri ? "uri" : "digest", uri ? key + 4 : key);
		cJSON_AddItemToArray(a, e);
	}
	if (sq_end(st, last, "list datasets") < 0) {
		cJSON_Delete(o);
		return MLREG_EIO;
	}
	for (cJSON *e = a->child; e; e = e->next) {
		int64_t id = (int64_t)cJSON_GetObjectItem(e, "_node")->valuedouble;
		cJSON_DeleteItemFromObject(e, "_node");
		if (!(st = prep(tx, count))) {
			cJSON_Delete(o);
			return MLREG_EIO;
		}
		sqlite3_bind_int64(st, 1, id);
		last = sqlite3_step(st);
		cJSON_AddNumberToObject(e, "versions", last == SQLITE_ROW ? (double)sqlite3_column_int64(st, 0) : 0);
		if (sq_end(st, last, "count dataset users") < 0) {
			cJSON_Delete(o);
			return MLREG_EIO;
		}
		add_names(tx, id, e);
	}
	if (n > limit) {
		char tok[32];
		snprintf(tok, sizeof(tok), "%lld", (long long)(offset + limit));
		cJSON_AddStringToObject(o, "next_page_token", tok);
	} else {
		cJSON_AddNullToObject(o, "next_page_token");
	}
	*out = o;
	return 0;
}

void sq_lineage_ops(reg_meta_ops *ops)
{
	ops->lineage_node_ensure = node_ensure;
	ops->lineage_node_find = node_find;
	ops->lineage_edge_add = edge_add;
	ops->dataset_name_add = name_add;
	ops->dataset_by_name = by_name;
	ops->lineage_edges_of = edges_of;
	ops->lineage_node_get = node_get;
	ops->dataset_list = dataset_list;
	ops->lineage_stage_holders = stage_holders;
	ops->lineage_node_row = node_row;
}
