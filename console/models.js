// models.js - the models list, a model (versions, stage history, aliases,
// policies) and a version (files, metrics, params, tags, signatures,
// lineage) of the mlreg console.
//
// Each page asks the existing /api/v1 routes for what it shows, in
// parallel, once; nothing here polls.  The models list is one request per
// 1000 models: each model object carries the stages it holds.

import { h, add, clear, time, bytes, num, shortDigest, modelHref, versionHref, stageBadge, aliasBadge, errorBox,
	table, kvTable, heading, ApiError } from './core.js';
import { lineageGraph } from './lineage.js';

const MAX_MODELS = 5000; // models fetched for the search (1000 a page)
const MAX_ROWS = 200;    // rows drawn at once; the search narrows them
const enc = encodeURIComponent;

// ------------------------------------------------------------------ models
export async function modelsPage(view, page, r) {
	add(page, heading('Models'));
	const status = h('p', { class: 'muted', role: 'status', text: 'Loading models…' });
	const search = h('input', { id: 'models-search', testid: 'models-search', type: 'search', spellcheck: 'false',
		autocomplete: 'off', 'aria-controls': 'models-table', 'aria-describedby': 'models-count' });
	const count = h('p', { id: 'models-count', class: 'muted', 'aria-live': 'polite' });
	const tbody = h('tbody');
	const tbl = h('table', { id: 'models-table', testid: 'models-table' },
		h('caption', { class: 'sr-only', text: 'Models, their latest version, the stages they hold and their last change' }),
		h('thead', null, h('tr', null, ['Model', 'Latest version', 'Stages', 'Last change'].map((t) => h('th', { scope: 'col', text: t })))),
		tbody);
	add(page, h('form', { class: 'search', role: 'search' },
		h('label', { for: 'models-search', text: 'Search models' }), search), count, status, tbl);

	const models = [];
	let tokenNext = null, truncated = false;
	do {
		const q = '/api/v1/models?limit=1000' + (tokenNext ? '&page_token=' + enc(tokenNext) : '');
		const res = await view.api(q);
		models.push(...res.models);
		tokenNext = res.next_page_token;
		if (tokenNext && models.length >= MAX_MODELS) { truncated = true; break; }
	} while (tokenNext);
	if (!view.alive) return;
	status.remove();

	const stageCell = (m) => {
		const held = m.stages || [];
		if (!held.length) return h('td', { class: 'stages muted', text: 'none' });
		return h('td', { class: 'stages' }, held.map((x) => [stageBadge(x.stage), h('span', { class: 'held', text: 'v' + x.version }), ' ']));
	};
	// the model's own update (push, tags) or a stage move, whichever is newer
	const lastChange = (m) => {
		let t = m.updated_at;
		for (const x of m.stages || [])
			if (x.since && (!t || x.since > t)) t = x.since;
		return t;
	};
	const rowOf = (m) => h('tr', { 'data-model': m.name },
		h('th', { scope: 'row' }, h('a', { href: modelHref(m.name), text: m.name }),
			m.description ? h('span', { class: 'desc', text: m.description }) : null),
		h('td', { class: 'num' }, m.latest_version === null ? h('span', { class: 'muted', text: '—' })
			: h('a', { href: versionHref(m.name, m.latest_version), text: String(m.latest_version) })),
		stageCell(m),
		h('td', null, time(lastChange(m))));

	let shown = [];
	const draw = () => {
		const needle = search.value.trim().toLowerCase();
		const match = (m) => !needle || m.name.toLowerCase().includes(needle) ||
			(m.description || '').toLowerCase().includes(needle) ||
			Object.entries(m.tags || {}).some(([k, v]) => (k + '=' + v).toLowerCase().includes(needle));
		const all = models.filter(match);
		shown = all.slice(0, MAX_ROWS);
		clear(tbody);
		for (const m of shown)
			tbody.append(rowOf(m));
		if (!shown.length)
			tbody.append(h('tr', null, h('td', { colspan: '4', class: 'muted', text: models.length ? 'No model matches.' : 'No models yet.' })));
		count.textContent = (needle ? all.length + ' of ' + models.length + ' models match' : models.length + ' models') +
			(all.length > shown.length ? '; the first ' + shown.length + ' are shown, refine the search' : '') +
			(truncated ? ' (the registry holds more; only the first ' + models.length + ' were loaded)' : '');
	};
	search.addEventListener('input', draw);
	search.closest('form').addEventListener('submit', (ev) => { ev.preventDefault(); draw(); });
	if (r.params.get('q')) search.value = r.params.get('q');
	draw();
}

// ------------------------------------------------------------------- model
function versionsTable(name, versions) {
	const keys = [...new Set(versions.flatMap((v) => Object.keys(v.metrics || {})))].sort().slice(0, 8);
	return table('model-versions', 'Versions (newest first)', ['Version', 'Status', 'Stages', ...keys, 'Created', 'By'],
		versions.map((v) => h('tr', { 'data-version': String(v.version) },
			h('th', { scope: 'row' }, h('a', { href: versionHref(name, v.version), text: 'v' + v.version })),
			h('td', { class: 'status-' + v.status, text: v.status }),
			h('td', { class: 'stages' }, (v.stages || []).map(stageBadge), (v.aliases || []).map(aliasBadge)),
			keys.map((k) => h('td', { class: 'num', text: num((v.metrics || {})[k]) })),
			h('td', null, time(v.created_at)),
			h('td', { text: v.created_by || '' }))));
}

function timeline(name, history) {
	const moves = history.filter((e) => e.target === 'stage');
	const ol = h('ol', { testid: 'model-timeline', class: 'timeline' },
		moves.map((e) => h('li', { 'data-stage': e.stage, 'data-kind': e.kind },
			time(e.time), ' ',
			stageBadge(e.stage), ' ',
			h('span', { class: 'kind', text: e.kind }), ' ',
			h('span', { class: 'move' }, e.from === null ? 'none' : h('a', { href: versionHref(name, e.from), text: 'v' + e.from }),
				' → ', e.to === null ? 'none' : h('a', { href: versionHref(name, e.to), text: 'v' + e.to })),
			' by ', h('span', { class: 'actor', text: e.actor }),
			e.comment ? h('q', { text: e.comment }) : null)));
	return h('section', { 'aria-labelledby': 'h-timeline' }, h('h2', { id: 'h-timeline', text: 'Stage history' }),
		moves.length ? ol : [ol, h('p', { class: 'muted', text: 'No stage moves yet.' })]);
}

function stagesAndAliases(name, st) {
	const held = table('model-stages', 'Stages now', ['Stage', 'Version', 'Since', 'By', 'Rollback depth'],
		st.stages.map((x) => h('tr', { 'data-stage': x.stage },
			h('th', { scope: 'row' }, stageBadge(x.stage)),
			h('td', null, x.version === null ? h('span', { class: 'muted', text: 'none' }) : h('a', { href: versionHref(name, x.version), text: 'v' + x.version })),
			h('td', null, time(x.since)), h('td', { text: x.by || '' }), h('td', { class: 'num', text: num(x.depth) }))));
	const aliases = st.aliases.length
		? table('model-aliases', 'Aliases', ['Alias', 'Version', 'Since', 'By'],
			st.aliases.map((a) => h('tr', { 'data-alias': a.alias },
				h('th', { scope: 'row' }, aliasBadge(a.alias)),
				h('td', null, h('a', { href: versionHref(name, a.version), text: 'v' + a.version })),
				h('td', null, time(a.since)), h('td', { text: a.by || '' }))))
		: h('div', { testid: 'model-aliases' }, h('p', { class: 'muted', text: 'No aliases.' }));
	return h('section', { 'aria-labelledby': 'h-stages', class: 'cols' }, h('h2', { id: 'h-stages', text: 'Stages and aliases' }),
		h('div', null, held), h('div', null, aliases));
}

function policies(list) {
	const body = list.length
		? table(null, null, ['Stage', 'Applies from', 'From stage', 'Metrics', 'Approvals', 'Signature', 'Soak', 'Same schema'],
			list.map((p) => h('tr', { 'data-stage': p.stage, 'data-policy': p.model },
				h('th', { scope: 'row' }, stageBadge(p.stage)),
				h('td', { text: p.model === '*' ? '* (every model)' : p.model }),
				h('td', { text: p.from || '—' }),
				h('td', { text: (p.metrics || []).join(', ') || '—' }),
				h('td', { class: 'num', text: num(p.approvals) }),
				h('td', { text: p.require_signature ? 'required' : '—' }),
				h('td', { text: p.soak || '—' }),
				h('td', { text: p.same_schema ? 'required' : '—' }))))
		: h('p', { class: 'muted', text: 'No gate policy applies: any ready version may be promoted.' });
	return h('section', { testid: 'model-policies', 'aria-labelledby': 'h-policies' },
		h('h2', { id: 'h-policies', text: 'Gate policies' }), body);
}

export async function modelPage(view, page, r) {
	const name = r.model;
	const base = '/api/v1/models/' + enc(name);
	add(page, heading(name), h('p', { class: 'muted', role: 'status', id: 'loading', text: 'Loading…' }));
	const [model, versions, st, hist, pol] = await Promise.all([
		view.api(base),
		view.api(base + '/versions?limit=1000&order_by=version&desc=true'),
		view.api(base + '/stages'),
		view.api(base + '/history?limit=10000'),
		view.api('/api/v1/policies?model=' + enc(name)),
	]);
	if (!view.alive) return;
	page.querySelector('#loading').remove();
	const tags = Object.entries(model.tags || {});
	add(page, 
		h('p', { class: 'crumbs' }, h('a', { href: '#/models', text: 'All models' }), ' / ', name),
		model.description ? h('p', { class: 'desc', text: model.description }) : null,
		h('dl', { class: 'facts' },
			h('dt', { text: 'Latest version' }), h('dd', { text: model.latest_version === null ? '—' : 'v' + model.latest_version }),
			h('dt', { text: 'Created' }), h('dd', null, time(model.created_at), ' by ', model.created_by || ''),
			h('dt', { text: 'Updated' }), h('dd', null, time(model.updated_at)),
			h('dt', { text: 'Tags' }), h('dd', { text: tags.length ? tags.map(([k, v]) => k + '=' + v).join(', ') : '—' })),
		h('p', null, h('a', { href: '#/audit?model=' + enc(name), text: 'Audit entries of this model' })),
		h('section', { 'aria-labelledby': 'h-versions' }, h('h2', { id: 'h-versions', text: 'Versions' }),
			versions.versions.length ? versionsTable(name, versions.versions)
				: [versionsTable(name, []), h('p', { class: 'muted', text: 'No versions.' })],
			versions.next_page_token ? h('p', { class: 'muted', text: 'Only the newest 1000 versions are listed.' }) : null),
		stagesAndAliases(name, st),
		timeline(name, hist.history),
		hist.next_page_token ? h('p', { class: 'muted', text: 'Only the first 10000 history entries are shown.' }) : null,
		policies(pol.policies));
}

// ----------------------------------------------------------------- version
function signatures(sig) {
	const list = sig.signatures || [];
	if (!list.length)
		return h('section', { testid: 'version-signatures', 'aria-labelledby': 'h-sig' }, h('h2', { id: 'h-sig', text: 'Signatures' }),
			h('p', { class: 'unsigned', text: 'unsigned' }));
	return h('section', { testid: 'version-signatures', 'aria-labelledby': 'h-sig' }, h('h2', { id: 'h-sig', text: 'Signatures' }),
		h('p', { text: sig.signed ? 'Signed by a trusted key.' : 'No signature is both valid and by a trusted key.' }),
		h('ul', null, list.map((x) => h('li', { class: x.valid ? 'sig-ok' : 'sig-bad', 'data-fingerprint': x.fingerprint },
			h('span', { class: 'key', text: x.key ? 'key ' + x.key : 'untrusted key' }), ': ',
			h('strong', { text: x.valid ? 'verified' : 'invalid' }),
			x.valid && !x.trusted ? ' (the key is not trusted)' : '',
			' · ', h('code', { title: x.fingerprint, text: shortDigest(x.fingerprint) }),
			' · signed ', time(x.created_at), ' by ', x.created_by || ''))));
}

export async function versionPage(view, page, r) {
	const name = r.model, n = r.version;
	const base = '/api/v1/models/' + enc(name) + '/versions/' + n;
	add(page, heading(name + ' v' + n), h('p', { class: 'muted', role: 'status', id: 'loading', text: 'Loading…' }));
	const [v, sig] = await Promise.all([view.api(base), view.api(base + '/signatures').catch((e) => {
		if (e.name === 'AbortError' || e.status === 401) throw e;
		return { error: e };
	})]);
	if (!view.alive) return;
	page.querySelector('#loading').remove();
	const graph = h('div', { testid: 'lineage-graph', class: 'lineage' }, h('p', { class: 'muted', role: 'status', text: 'Loading lineage…' }));
	const files = v.files || [];
	add(page, 
		h('p', { class: 'crumbs' }, h('a', { href: '#/models', text: 'All models' }), ' / ', h('a', { href: modelHref(name), text: name }), ' / v' + n),
		v.description ? h('p', { class: 'desc', text: v.description }) : null,
		h('dl', { class: 'facts' },
			h('dt', { text: 'Status' }), h('dd', { class: 'status-' + v.status, text: v.status }),
			h('dt', { text: 'Stages' }), h('dd', null, (v.stages || []).length ? v.stages.map(stageBadge) : '—', ' ', (v.aliases || []).map(aliasBadge)),
			h('dt', { text: 'Digest' }), h('dd', null, h('code', { class: 'digest', text: v.digest })),
			h('dt', { text: 'Size' }), h('dd', { text: bytes(v.size) + ' in ' + files.length + ' files' }),
			h('dt', { text: 'Created' }), h('dd', null, time(v.created_at), ' by ', v.created_by || ''),
			v.schema ? [h('dt', { text: 'Format' }), h('dd', { text: v.schema.format + (v.schema.file ? ' (' + v.schema.file + ')' : '') })] : null),
		h('div', { class: 'cols3' },
			kvTable('version-metrics', 'Metrics', v.metrics, num),
			kvTable('version-params', 'Params', v.params),
			kvTable('version-tags', 'Tags', v.tags)),
		sig.error ? h('section', { testid: 'version-signatures' }, h('h2', { text: 'Signatures' }), errorBox(sig.error, 'cannot read the signatures'))
			: signatures(sig),
		h('section', { 'aria-labelledby': 'h-files' }, h('h2', { id: 'h-files', text: 'Files' }),
			table('version-files', files.length + ' files', ['Path', 'Size', 'Mode', 'Digest'],
				files.map((f) => h('tr', { 'data-path': f.path },
					h('th', { scope: 'row', class: 'path', text: f.path }),
					h('td', { class: 'num', text: bytes(f.size) }),
					h('td', { text: f.mode === 493 ? '0755' : '0644' }),
					h('td', null, h('code', { title: f.digest, text: shortDigest(f.digest) })))))),
		h('section', { 'aria-labelledby': 'h-lineage' }, h('h2', { id: 'h-lineage', text: 'Lineage' }),
			h('p', { class: 'muted', text: 'What made this version (left) and what was made from it (right).' }), graph));

	const ref = enc(name + ':' + n);
	let up, down;
	try {
		[up, down] = await Promise.all([view.api('/api/v1/lineage?ref=' + ref + '&direction=up'),
			view.api('/api/v1/lineage?ref=' + ref + '&direction=down')]);
	} catch (e) {
		if (e.name === 'AbortError' || !view.alive || e.status === 401) return;
		add(clear(graph), errorBox(e, e instanceof ApiError && e.status === 403 ? 'this token may not read lineage (it crosses models)' : 'cannot read the lineage'));
		return;
	}
	if (!view.alive) return;
	add(clear(graph), lineageGraph(up, down));
}
