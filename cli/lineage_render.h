/*
 * lineage_render.h - the registry's lineage graph (GET /api/v1/lineage,
 * docs/api.md) as text for people and as Graphviz DOT for tools.
 *
 * The graph is outside input: both renderers accept any JSON value,
 * refuse one that is not a graph with MLREG_EIO, and otherwise render
 * whatever nodes and edges it holds (fuzzed by
 * tests/fuzz/fuzz_lineage_render.c).
 */
#ifndef MLREG_CLI_LINEAGE_RENDER_H
#define MLREG_CLI_LINEAGE_RENDER_H

#include <cjson/cJSON.h>
#include "util/util.h"

/* An indented tree from the root, one node a line, each line below the
 * root starting with the relation that leads to it (trained_on,
 * derived_from, built_from, produced_by): for direction "up" the edges
 * from a node, for "down" the edges into it.  A node reached a second time
 * (a diamond) is printed again with "(see above)" and not expanded; a
 * truncated answer ends with a line saying so.  A root that is not a node
 * (a query by dataset name: the root is "dataset:NAME") is a line
 * "dataset NAME (N contents)" with each node at depth 0 as a tree below
 * it.  Control characters in the registry's strings are printed as '?'.
 * Appends to out; returns 0, MLREG_EIO for a malformed graph (no nodes
 * array, a node without an id, an edge without from, to or relation, a
 * root that is neither a node nor has nodes at depth 0), MLREG_ETOOBIG
 * past out's limit, MLREG_ENOMEM. */
int cli_lineage_render_text(const cJSON *graph, util_buf *out);

/* A Graphviz digraph with exactly the graph's nodes (named by their ids)
 * and edges (labelled with their relation), in the order the registry sent
 * them.  Ids are quoted with '"' escaped; DOT cannot spell an odd run of
 * backslashes right before a quote, a newline or the end of a quoted
 * string, so such a run gets one more backslash (valid DOT, and no id the
 * registry makes has one).  Labels are escaped so that Graphviz shows them
 * literally.  The root (or, for a dataset name, each node at depth 0) is
 * drawn bold.  Errors as for the text. */
int cli_lineage_render_dot(const cJSON *graph, util_buf *out);

#endif
