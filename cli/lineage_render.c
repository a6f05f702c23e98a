/*
 * lineage_render.c - `mlreg lineage` output: the registry's lineage graph
 * (nodes and edges, docs/api.md "Lineage") as an indented text tree and
 * as a Graphviz digraph.
 *
 * The graph arrives from the network, so nothing about it is trusted: it
 * may repeat nodes, name nodes no edge reaches, have edges to ids that are
 * not nodes, or cycles, and be as large as the client's answer limit.
 * The renderers index it once (nodes sorted by id for lookup, edges
 * grouped per node by a stable counting sort, so children keep the
 * registry's order) and walk it with an explicit stack: a node is
 * expanded only the first time it is reached, which bounds the work by
 * nodes + edges whatever the shape, prints a diamond's shared part once
 * (later as "(see above)"), and ends cycles.  Deep chains are indented up
 * to 64 levels and numbered beyond, so a line stays short.  Strings from
 * the registry reach the terminal only with control characters replaced,
 * so an answer cannot move the cursor or recolour the screen.
 *
 * The DOT output names nodes by their ids so that a tool can match them
 * with the JSON (`dot -Tjson`); quoting follows Graphviz's scanner, where
 * inside quotes only \" is an escape and a backslash pair stays a pair.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "cli/lineage_render.h"
#include "util/json.h"

#define NONE ((size_t)-1)
#define MAX_INDENT 64

typedef struct {
	const char *id;
	const cJSON *obj;
	size_t order; /* position in the answer */
} rnode;

typedef struct {
	const cJSON *obj;
	const char *from, *to, *relation;
	size_t from_i, to_i; /* node index or NONE */
} redge;

typedef struct {
	rnode *nodes; /* sorted by id, first of each id kept */
	size_t nnodes;
	redge *edges; /* answer order */
	size_t nedges;
	size_t *adj;       /* edge indexes grouped by the node they lead on from */
	size_t *adj_start; /* nnodes + 1 offsets into adj */
	size_t root;       /* NONE when the root is not a node (a dataset name) */
	const char *root_id;
	size_t *top;       /* then: the depth-0 nodes, in the registry's order */
	size_t ntop;
	bool down;
} rgraph;

static int malformed(const char *what)
{
	return mlreg_error_set(MLREG_EIO, "registry sent a malformed lineage graph: %s", what);
}

static int cmp_node(const void *a, const void *b)
{
	const rnode *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static size_t find_node(const rgraph *g, const char *id)
{
	size_t lo = 0, hi = g->nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(g->nodes[mid].id, id);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

static void graph_release(rgraph *g)
{
	free(g->nodes);
	free(g->edges);
	free(g->adj);
	free(g->adj_start);
	free(g->top);
	memset(g, 0, sizeof(*g));
}

static size_t array_len(const cJSON *a)
{
	size_t n = 0;
	for (const cJSON *c = a->child; c; c = c->next)
		n++;
	return n;
}

/* Node indexes by their position in the answer. */
static int cmp_order(const void *a, const void *b, void *arg)
{
	const rgraph *g = arg;
	size_t x = g->nodes[*(const size_t *)a].order, y = g->nodes[*(const size_t *)b].order;
	return x < y ? -1 : x > y;
}

/* A node at depth 0: one of the roots of a query by dataset name. */
static bool is_top(const rnode *n)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(n->obj, "depth");
	return cJSON_IsNumber(d) && d->valuedouble == 0;
}

static int graph_index(const cJSON *graph, rgraph *g)
{
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(graph, "nodes"),
		    *edges = cJSON_GetObjectItemCaseSensitive(graph, "edges"), *c;
	const char *root = util_json_str(graph, "root"), *dir = util_json_str(graph, "direction");
	size_t n = 0, k = 0, *fill = NULL;
	memset(g, 0, sizeof(*g));
	if (!cJSON_IsObject(graph) || !cJSON_IsArray(nodes) || (edges && !cJSON_IsArray(edges)))
		return malformed("no nodes array");
	if (!root)
		return malformed("no root");
	g->down = dir && !strcmp(dir, "down");
	g->nnodes = array_len(nodes);
	g->nedges = edges ? array_len(edges) : 0;
	g->nodes = calloc(g->nnodes + 1, sizeof(*g->nodes));
	g->edges = calloc(g->nedges + 1, sizeof(*g->edges));
	g->adj = calloc(g->nedges + 1, sizeof(*g->adj));
	g->adj_start = calloc(g->nnodes + 2, sizeof(*g->adj_start));
	fill = calloc(g->nnodes + 1, sizeof(*fill));
	if (!g->nodes || !g->edges || !g->adj || !g->adj_start || !fill) {
		free(fill);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	cJSON_ArrayForEach(c, nodes)
	{
		const char *id = util_json_str(c, "id");
		if (!id) {
			free(fill);
			return malformed("a node without an id");
		}
		g->nodes[n] = (rnode){id, c, n};
		n++;
	}
	qsort(g->nodes, n, sizeof(*g->nodes), cmp_node);
	for (size_t i = 0; i < n; i++) /* keep the first of each id */
		if (k == 0 || strcmp(g->nodes[k - 1].id, g->nodes[i].id) != 0)
			g->nodes[k++] = g->nodes[i];
	g->nnodes = k;
	n = 0;
	if (edges)
		cJSON_ArrayForEach(c, edges)
		{
			redge *e = &g->edges[n++];
			e->obj = c;
			e->from = util_json_str(c, "from");
			e->to = util_json_str(c, "to");
			e->relation = util_json_str(c, "relation");
			if (!e->from || !e->to || !e->relation) {
				free(fill);
				return malformed("an edge without from, to or relation");
			}
			e->from_i = find_node(g, e->from);
			e->to_i = find_node(g, e->to);
		}
	g->root_id = root;
	if ((g->root = find_node(g, root)) == NONE) {
		/* ?dataset=NAME: the root names every content carrying that
		 * name; those are the nodes at depth 0 */
		if (!(g->top = calloc(g->nnodes + 1, sizeof(*g->top)))) {
			free(fill);
			return mlreg_error_set(MLREG_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < g->nnodes; i++)
			if (is_top(&g->nodes[i]))
				g->top[g->ntop++] = i;
		qsort_r(g->top, g->ntop, sizeof(*g->top), cmp_order, g);
		if (g->ntop == 0) {
			free(fill);
			return malformed("the root is not among the nodes");
		}
	}
	/* counting sort of edges by the node they lead on from: stable */
	for (size_t i = 0; i < g->nedges; i++) {
		size_t at = g->down ? g->edges[i].to_i : g->edges[i].from_i;
		if (at != NONE)
			g->adj_start[at + 1]++;
	}
	for (size_t i = 0; i < g->nnodes; i++)
		g->adj_start[i + 1] += g->adj_start[i];
	for (size_t i = 0; i < g->nedges; i++) {
		size_t at = g->down ? g->edges[i].to_i : g->edges[i].from_i;
		if (at != NONE)
			g->adj[g->adj_start[at] + fill[at]++] = i;
	}
	free(fill);
	return 0;
}

/* ---- node text ---- */

/* s with control characters as '?'. */
static int put_clean(util_buf *b, const char *s, size_t max)
{
	char chunk[256];
	size_t n = 0;
	int error = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && max > 0 && error == 0; p++, max--) {
		chunk[n++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
		if (n == sizeof(chunk)) {
			error = util_buf_put(b, chunk, n);
			n = 0;
		}
	}
	return error ? error : util_buf_put(b, chunk, n);
}

static int put_str(util_buf *b, const char *s)
{
	return put_clean(b, s, (size_t)-1);
}

static const char *text_of(const cJSON *o, const char *key)
{
	return util_json_str(o, key);
}

/* The result of a chain of appends joined with ||: any of them failed
 * with its code recorded (util_buf records MLREG_ETOOBIG or ENOMEM). */
static int chained(int failed)
{
	return failed ? mlreg_error_code() : 0;
}

/* " [a, b]" of a string array, nothing when empty. */
static int put_list(util_buf *b, const cJSON *arr, const char *open, const char *close)
{
	const cJSON *c;
	bool first = true;
	int error = 0;
	if (!cJSON_IsArray(arr) || !arr->child)
		return 0;
	cJSON_ArrayForEach(c, arr)
	{
		if (!cJSON_IsString(c))
			continue;
		if ((error = util_buf_puts(b, first ? open : ", ")) < 0 || (error = put_str(b, c->valuestring)) < 0)
			return error;
		first = false;
	}
	return first ? 0 : util_buf_puts(b, close);
}

/* "main, dirty" of a built_from edge; nothing when it says neither. */
static int put_commit_note(util_buf *b, const cJSON *edge, const char *open, const char *close)
{
	const char *branch = edge ? text_of(edge, "branch") : NULL;
	bool dirty = edge && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(edge, "dirty"));
	int error = 0;
	if (!branch && !dirty)
		return 0;
	if ((error = util_buf_puts(b, open)) == 0 && branch)
		error = put_str(b, branch);
	if (error == 0 && dirty)
		error = util_buf_puts(b, branch ? ", dirty" : "dirty");
	return error ? error : util_buf_puts(b, close);
}

static int put_version(util_buf *b, const rnode *n)
{
	const char *model = text_of(n->obj, "model"), *status = text_of(n->obj, "status");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(n->obj, "version");
	int error;
	if (model && util_json_is_int(v))
		error = chained(put_str(b, model) || util_buf_printf(b, ":%lld", (long long)v->valuedouble));
	else
		error = put_str(b, text_of(n->obj, "label") ? text_of(n->obj, "label") : n->id);
	if (error == 0)
		error = put_list(b, cJSON_GetObjectItemCaseSensitive(n->obj, "stages"), " [", "]");
	if (error == 0 && status && strcmp(status, "ready") != 0)
		error = chained(util_buf_puts(b, " (") || put_str(b, status) || util_buf_puts(b, ")"));
	/* where it serves (added by the CLI): " <serving: live stable, canary target>" */
	{
		const cJSON *deps = cJSON_GetObjectItemCaseSensitive(n->obj, "deployments"), *d;
		bool first = true;
		if (!cJSON_IsArray(deps))
			deps = NULL;
		cJSON_ArrayForEach(d, deps)
		{
			const char *name = text_of(d, "deployment"), *role = text_of(d, "role");
			if (error || !name || !role)
				continue;
			error = chained(util_buf_puts(b, first ? " <serving: " : ", ") || put_str(b, name) ||
					util_buf_puts(b, " ") || put_str(b, role));
			first = false;
		}
		if (error == 0 && !first)
			error = util_buf_puts(b, ">");
	}
	return error;
}

static int put_dataset(util_buf *b, const rnode *n)
{
	const char *label = text_of(n->obj, "label"), *digest = text_of(n->obj, "digest"), *uri = text_of(n->obj, "uri");
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(n->obj, "names");
	int error = util_buf_puts(b, "dataset");
	/* the registry's label joins all names: the first one names it here */
	if (cJSON_IsArray(names) && cJSON_IsString(names->child))
		label = names->child->valuestring;
	if (error == 0 && label)
		error = chained(util_buf_puts(b, " ") || put_str(b, label));
	if (error == 0 && digest) {
		/* "sha256:" and 8 hex digits tell datasets apart on a screen */
		error = chained(util_buf_puts(b, " ") || put_clean(b, digest, 15));
		if (error == 0 && strlen(digest) > 15)
			error = util_buf_puts(b, "\xe2\x80\xa6");
	} else if (error == 0 && uri) {
		error = chained(util_buf_puts(b, " ") || put_str(b, uri));
	}
	if (error == 0 && cJSON_IsArray(names) && array_len(names) > 1)
		error = put_list(b, names, " (names: ", ")");
	return error;
}

/* One node as a line's text; edge is the one that led here (NULL for the
 * root), whose built_from details belong to the version it leaves. */
static int put_node(util_buf *b, const rgraph *g, const rnode *n, const redge *edge)
{
	const char *kind = text_of(n->obj, "kind"), *label = text_of(n->obj, "label");
	const cJSON *eo = edge ? edge->obj : NULL;
	bool commit_edge = edge && !strcmp(edge->relation, "built_from");
	int error;
	if (!kind)
		kind = "node";
	if (!strcmp(kind, "version")) {
		error = put_version(b, n);
		if (error == 0 && commit_edge && g->down)
			error = put_commit_note(b, eo, " (", ")");
		return error;
	}
	if (!strcmp(kind, "dataset"))
		return put_dataset(b, n);
	if (!strcmp(kind, "commit")) {
		const char *sha = text_of(n->obj, "sha");
		error = util_buf_puts(b, "commit ");
		if (error == 0)
			error = sha ? put_clean(b, sha, 7) : put_str(b, label ? label : n->id);
		if (error == 0 && commit_edge && !g->down) {
			const char *branch = text_of(eo, "branch");
			if (branch)
				error = chained(util_buf_puts(b, " ") || put_str(b, branch));
			if (error == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(eo, "dirty")))
				error = util_buf_puts(b, " (dirty)");
		}
		return error;
	}
	if (!strcmp(kind, "run")) {
		const char *url = text_of(n->obj, "url");
		error = chained(util_buf_puts(b, "run ") || put_str(b, label ? label : n->id));
		if (error == 0 && url)
			error = chained(util_buf_puts(b, " ") || put_str(b, url));
		return error;
	}
	return chained(put_str(b, kind) || util_buf_puts(b, " ") || put_str(b, label ? label : n->id));
}

/* ---- text ---- */

typedef struct {
	size_t node, next, depth;
} frame;

/* "dataset train (2 contents)": the line of a root that is a name. */
static int put_name_root(util_buf *b, const rgraph *g)
{
	const char *id = g->root_id;
	int error;
	if (!strncmp(id, "dataset:", 8))
		error = chained(util_buf_puts(b, "dataset ") || put_str(b, id + 8));
	else
		error = put_str(b, id);
	if (error == 0)
		error = util_buf_printf(b, " (%zu content%s)\n", g->ntop, g->ntop == 1 ? "" : "s");
	return error;
}

static int put_indent(util_buf *b, size_t depth)
{
	int error = 0;
	for (size_t i = 0; i < depth && i < MAX_INDENT && error == 0; i++)
		error = util_buf_puts(b, "  ");
	if (error == 0 && depth > MAX_INDENT)
		error = util_buf_printf(b, "[%zu] ", depth);
	return error;
}

/* One line below the frame on top of the stack: its next edge, or pop. */
static int step(const rgraph *g, util_buf *out, frame *stack, size_t *sp, bool *seen)
{
	frame *f = &stack[*sp - 1];
	const redge *e;
	size_t child, depth = f->depth + 1;
	int error;
	if (f->next == g->adj_start[f->node + 1]) {
		--*sp;
		return 0;
	}
	e = &g->edges[g->adj[f->next++]];
	child = g->down ? e->from_i : e->to_i;
	if ((error = put_indent(out, depth)) < 0 || (error = put_str(out, e->relation)) < 0 ||
	    (error = util_buf_puts(out, " ")) < 0)
		return error;
	if (child == NONE) {
		error = chained(put_str(out, g->down ? e->from : e->to) || util_buf_puts(out, " (not among the nodes)"));
	} else {
		error = put_node(out, g, &g->nodes[child], e);
		if (error == 0 && seen[child]) {
			error = util_buf_puts(out, " (see above)");
		} else if (error == 0) {
			seen[child] = true; /* each node is pushed once: the stack fits */
			stack[(*sp)++] = (frame){child, g->adj_start[child], depth};
		}
	}
	return error ? error : util_buf_puts(out, "\n");
}

static int render_tree(const rgraph *g, util_buf *out)
{
	frame *stack = calloc(g->nnodes + 1, sizeof(*stack));
	bool *seen = calloc(g->nnodes + 1, sizeof(*seen));
	/* the root node, or below a name every node at depth 0 in turn */
	const size_t *roots = g->root != NONE ? &g->root : g->top;
	size_t nroots = g->root != NONE ? 1 : g->ntop, base = g->root != NONE ? 0 : 1, sp = 0;
	int error = 0;
	if (!stack || !seen) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if (g->root == NONE && (error = put_name_root(out, g)) < 0)
		goto done;
	for (size_t r = 0; r < nroots; r++) {
		if ((error = put_indent(out, base)) < 0 || (error = put_node(out, g, &g->nodes[roots[r]], NULL)) < 0)
			goto done;
		if (seen[roots[r]]) {
			if ((error = util_buf_puts(out, " (see above)\n")) < 0)
				goto done;
			continue;
		}
		if ((error = util_buf_puts(out, "\n")) < 0)
			goto done;
		seen[roots[r]] = true;
		stack[sp++] = (frame){roots[r], g->adj_start[roots[r]], base};
		while (sp > 0)
			if ((error = step(g, out, stack, &sp, seen)) < 0)
				goto done;
	}
done:
	free(stack);
	free(seen);
	return error;
}

int cli_lineage_render_text(const cJSON *graph, util_buf *out)
{
	rgraph g;
	int error;
	if ((error = graph_index(graph, &g)) == 0)
		error = render_tree(&g, out);
	if (error == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(graph, "truncated")))
		error = util_buf_puts(out, "(truncated: the registry stopped at its node limit)\n");
	graph_release(&g);
	return error;
}

/* ---- DOT ---- */

/* A quoted DOT id: only \" is an escape there and a backslash pair stays
 * two backslashes, so s is written as is except for quotes, and an odd
 * run of backslashes before a quote, a newline or the end gets one more
 * (it would escape what follows). */
static int put_dot_id(util_buf *b, const char *s)
{
	int error = util_buf_puts(b, "\"");
	for (const char *p = s; *p && error == 0;) {
		if (*p == '\\') {
			size_t run = strspn(p, "\\");
			char next = p[run];
			error = util_buf_put(b, p, run);
			if (error == 0 && (run & 1) && (next == '"' || next == '\n' || next == '\0'))
				error = util_buf_puts(b, "\\");
			p += run;
		} else if (*p == '"') {
			error = util_buf_puts(b, "\\\"");
			p++;
		} else {
			error = util_buf_put(b, p, 1);
			p++;
		}
	}
	return error ? error : util_buf_puts(b, "\"");
}

/* A quoted label Graphviz shows literally: its escString turns \\ into
 * one backslash and would expand \N, \G, \n and friends. */
static int put_dot_label(util_buf *b, const char *s)
{
	int error = util_buf_puts(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p && error == 0; p++) {
		if (*p == '\\')
			error = util_buf_puts(b, "\\\\");
		else if (*p == '"')
			error = util_buf_puts(b, "\\\"");
		else if (*p < 0x20 || *p == 0x7f)
			error = util_buf_puts(b, "?");
		else
			error = util_buf_put(b, p, 1);
	}
	return error ? error : util_buf_puts(b, "\"");
}

static const char *dot_shape(const char *kind)
{
	if (!kind)
		return "box";
	if (!strcmp(kind, "dataset"))
		return "cylinder";
	if (!strcmp(kind, "commit"))
		return "note";
	if (!strcmp(kind, "run"))
		return "ellipse";
	return "box";
}

static int dot_node(util_buf *out, const rgraph *g, const cJSON *obj, const char *root)
{
	rnode n = {util_json_str(obj, "id"), obj, 0};
	util_buf label;
	int error;
	util_buf_init(&label, out->max);
	if ((error = put_node(&label, g, &n, NULL)) == 0 && (error = util_buf_puts(out, "\t")) == 0 &&
	    (error = put_dot_id(out, n.id)) == 0 && (error = util_buf_puts(out, " [label=")) == 0 &&
	    (error = put_dot_label(out, label.ptr ? label.ptr : "")) == 0)
		error = util_buf_printf(out, ", shape=%s%s];\n", dot_shape(util_json_str(obj, "kind")),
					(g->root == NONE ? is_top(&n) : !strcmp(n.id, root)) ? ", penwidth=2" : "");
	util_buf_release(&label);
	return error;
}

int cli_lineage_render_dot(const cJSON *graph, util_buf *out)
{
	const cJSON *c;
	const char *root = util_json_str(graph, "root");
	rgraph g;
	int error;
	if ((error = graph_index(graph, &g)) < 0)
		goto done;
	/* edges point from a version to what made it: inputs drawn above */
	if ((error = util_buf_puts(out, "digraph lineage {\n\trankdir=BT;\n\tnode [fontsize=10];\n"
					"\tedge [fontsize=9];\n")) < 0)
		goto done;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(graph, "nodes"))
	{
		if ((error = dot_node(out, &g, c, root)) < 0)
			goto done;
	}
	for (size_t i = 0; i < g.nedges; i++) {
		const redge *e = &g.edges[i];
		if ((error = util_buf_puts(out, "\t")) < 0 || (error = put_dot_id(out, e->from)) < 0 ||
		    (error = util_buf_puts(out, " -> ")) < 0 || (error = put_dot_id(out, e->to)) < 0 ||
		    (error = util_buf_puts(out, " [label=")) < 0 || (error = put_dot_label(out, e->relation)) < 0 ||
		    (error = util_buf_puts(out, "];\n")) < 0)
			goto done;
	}
	error = util_buf_puts(out, "}\n");
done:
	graph_release(&g);
	return error;
}
