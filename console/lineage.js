// lineage.js - a version's lineage as an SVG graph, laid out here from the
// two answers of GET /api/v1/lineage (direction=up and direction=down).
//
// Layered layout, left to right in the direction data flows: what made the
// version (datasets, commits, runs, parent versions) in columns on the
// left, the version in the middle, what was made from it on the right.  A
// node's column is its longest path from the version (not the API's
// shortest 'depth'), so every edge points strictly rightwards even when a
// dataset fed both the version and its parent.  Within a column nodes are
// ordered by the barycenter of their neighbours in the column nearer the
// middle, two sweeps, which untangles the usual lineage well enough without
// a layout library.  At most MAX_NODES nodes are drawn, nearest first;
// the page says so when it cuts, and when the server cut the answer itself
// (--lineage-max-nodes, "truncated").

import { h, s, versionHref } from './core.js';

export const MAX_NODES = 200;
const COL_W = 210, NODE_W = 176, NODE_H = 38, ROW_GAP = 12, PAD = 12;

function clip(t, n) { return t.length > n ? t.slice(0, n - 1) + '…' : t; }

function describe(n) {
	switch (n.kind) {
	case 'version': return 'version ' + n.label + ' (' + n.status + ((n.stages || []).length ? '; ' + n.stages.join(', ') : '') + ')';
	case 'dataset': return 'dataset ' + (n.names || [n.label]).join(', ') + ' (' + (n.digest || n.uri || '') + ')';
	case 'commit': return 'commit ' + (n.sha || n.label);
	case 'run': return 'run ' + n.label + (n.url ? ' (' + n.url + ')' : '');
	default: return n.kind + ' ' + n.label;
	}
}

function subline(n) {
	if (n.kind === 'version') return (n.stages || []).length ? n.stages.join(', ') : n.status;
	return n.kind;
}

// Returns the elements that go into the lineage-graph container.
export function lineageGraph(up, down) {
	const byId = new Map();
	const side = new Map(); // id -> -1 upstream, 0 the version, +1 downstream
	const root = up.root;
	// nearest first, alternating sides, so a cut keeps both neighbourhoods
	const ups = up.nodes.slice().sort((a, b) => a.depth - b.depth);
	const downs = down.nodes.slice().sort((a, b) => a.depth - b.depth);
	const total = new Set([...ups, ...downs].map((n) => n.id)).size;
	for (let i = 0; byId.size < MAX_NODES && (i < ups.length || i < downs.length); i++) {
		for (const [n, sd] of [[ups[i], -1], [downs[i], 1]]) {
			if (!n || byId.has(n.id) || byId.size >= MAX_NODES) continue;
			byId.set(n.id, n);
			side.set(n.id, n.id === root ? 0 : sd);
		}
	}
	const seen = new Set();
	const edges = [];
	for (const [e, sd] of [...up.edges.map((e) => [e, -1]), ...down.edges.map((e) => [e, 1])]) {
		const k = e.from + '\n' + e.to + '\n' + e.relation;
		if (seen.has(k) || !byId.has(e.from) || !byId.has(e.to)) continue;
		seen.add(k);
		edges.push({ ...e, side: sd });
	}

	// columns: longest path from the version; an edge's 'to' made its 'from'
	const col = new Map([[root, 0]]);
	for (let pass = 0; pass <= byId.size; pass++) {
		let changed = false;
		for (const e of edges) {
			if (e.side < 0 && col.has(e.from) && side.get(e.to) < 0) {
				const c = col.get(e.from) - 1;
				if (!col.has(e.to) || col.get(e.to) > c) { col.set(e.to, c); changed = true; }
			} else if (e.side > 0 && col.has(e.to) && side.get(e.from) > 0) {
				const c = col.get(e.to) + 1;
				if (!col.has(e.from) || col.get(e.from) < c) { col.set(e.from, c); changed = true; }
			}
		}
		if (!changed) break;
	}
	for (const [id, n] of byId) if (!col.has(id)) col.set(id, side.get(id) * Math.max(1, n.depth));

	const cols = new Map();
	for (const [id, c] of col) {
		if (!cols.has(c)) cols.set(c, []);
		cols.get(c).push(id);
	}
	const kindRank = { version: 0, dataset: 1, commit: 2, run: 3 };
	for (const ids of cols.values())
		ids.sort((a, b) => (kindRank[byId.get(a).kind] ?? 9) - (kindRank[byId.get(b).kind] ?? 9) || byId.get(a).label.localeCompare(byId.get(b).label));
	const nbrs = new Map([...byId.keys()].map((id) => [id, []]));
	for (const e of edges) {
		nbrs.get(e.from).push(e.to);
		nbrs.get(e.to).push(e.from);
	}
	const keys = [...cols.keys()];
	const minC = Math.min(...keys), maxC = Math.max(...keys);
	const pos = new Map();
	const index = () => { for (const ids of cols.values()) ids.forEach((id, i) => pos.set(id, i)); };
	index();
	for (let sweep = 0; sweep < 2; sweep++) {
		const order = [];
		for (let c = -1; c >= minC; c--) order.push([c, c + 1]);
		for (let c = 1; c <= maxC; c++) order.push([c, c - 1]);
		for (const [c, inner] of order) {
			const ids = cols.get(c);
			if (!ids) continue;
			const bc = new Map(ids.map((id) => {
				const ns = nbrs.get(id).filter((x) => col.get(x) === inner);
				return [id, ns.length ? ns.reduce((a, x) => a + pos.get(x), 0) / ns.length : pos.get(id)];
			}));
			ids.sort((a, b) => bc.get(a) - bc.get(b));
			ids.forEach((id, i) => pos.set(id, i));
		}
	}

	const rowsMax = Math.max(...[...cols.values()].map((ids) => ids.length));
	const step = NODE_H + ROW_GAP;
	const width = (maxC - minC) * COL_W + NODE_W + 2 * PAD;
	const height = rowsMax * step - ROW_GAP + 2 * PAD;
	const xy = new Map();
	for (const [c, ids] of cols) {
		const off = (rowsMax - ids.length) * step / 2;
		ids.forEach((id, i) => xy.set(id, [PAD + (c - minC) * COL_W, PAD + off + i * step]));
	}

	const svg = s('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'group',
		'aria-label': 'Lineage of ' + (byId.get(root) ? byId.get(root).label : root) + ': ' + byId.size + ' nodes, ' + edges.length + ' edges' },
	s('defs', null, s('marker', { id: 'lineage-arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7',
		markerHeight: '7', orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }))));
	for (const e of edges) {
		// data flows from what made (to) to what was made (from): left to right
		let [a, b] = [xy.get(e.to), xy.get(e.from)];
		if (a[0] > b[0]) [a, b] = [b, a];
		const x1 = a[0] + NODE_W, y1 = a[1] + NODE_H / 2, x2 = b[0], y2 = b[1] + NODE_H / 2;
		const mx = (x1 + x2) / 2;
		const d = x2 > x1 ? 'M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2
			: 'M' + (a[0] + NODE_W / 2) + ',' + (a[1] + NODE_H) + ' L' + (b[0] + NODE_W / 2) + ',' + b[1];
		svg.append(s('path', { d, class: 'edge rel-' + e.relation, 'data-from': e.from, 'data-to': e.to, 'marker-end': 'url(#lineage-arrow)' },
			s('title', { text: byId.get(e.to).label + ' → ' + byId.get(e.from).label + ' (' + e.relation + ')' })));
	}
	for (const [id, n] of byId) {
		const [x, y] = xy.get(id);
		const cls = ['node', 'kind-' + n.kind, id === root ? 'current' : null, n.status === 'deleted' ? 'deleted' : null].filter(Boolean).join(' ');
		const body = [
			s('rect', { x, y, width: NODE_W, height: NODE_H, rx: '5' }),
			s('text', { x: x + 8, y: y + 15, class: 'label', text: clip(n.label, 24) }),
			s('text', { x: x + 8, y: y + 30, class: 'sub', text: clip(subline(n), 28) }),
		];
		const g = s('g', { class: cls, 'data-id': id, 'data-kind': n.kind }, s('title', { text: describe(n) }));
		if (n.kind === 'version' && typeof n.model === 'string')
			g.append(s('a', { href: versionHref(n.model, n.version), 'aria-label': describe(n) }, body));
		else
			g.append(...body);
		svg.append(g);
	}

	const notes = [];
	if (byId.size < total)
		notes.push('Showing the ' + byId.size + ' nearest of ' + total + ' nodes (the console draws at most ' + MAX_NODES + ').');
	if (up.truncated || down.truncated)
		notes.push('The server cut the lineage answer at its node limit (--lineage-max-nodes): more nodes exist.');
	const out = [];
	if (notes.length) out.push(h('p', { class: 'note', testid: 'lineage-capped', role: 'note', text: notes.join(' ') }));
	if (byId.size === 1) out.push(h('p', { class: 'muted', text: 'No lineage recorded: nothing made this version and nothing was made from it.' }));
	out.push(h('div', { class: 'graph-scroll' }, svg));
	out.push(h('details', { class: 'lineage-list' }, h('summary', { text: 'Lineage as a list' }),
		h('ul', null, [...byId.values()].sort((a, b) => col.get(a.id) - col.get(b.id)).map((n) =>
			h('li', null, col.get(n.id) < 0 ? 'upstream ' + -col.get(n.id) + ': ' : col.get(n.id) > 0 ? 'downstream ' + col.get(n.id) + ': ' : 'this version: ',
				n.kind === 'version' ? h('a', { href: versionHref(n.model, n.version), text: describe(n) }) : describe(n))))));
	return out;
}
