// deployments.js - the live deployments page of the mlreg console.
//
// One GET /api/v1/deployments per refresh (every refresh_ms from
// /console/config.json, --console-refresh): the status objects already hold
// every node's versions and weights and the analysis results, so the page
// never asks node by node.  The next refresh is scheduled when the previous
// answer is drawn (setTimeout, never setInterval), so a slow server gets
// fewer requests, not a queue.  Sections are updated in place, keyed by
// deployment name: the buttons stay the same elements across refreshes
// (focus and a click in progress survive), and a part is redrawn only when
// its data changed.  The rollout buttons are drawn only for roles that may
// use them (deployer, admin); the server decides anyway (403, 409), and its
// refusal is shown in the deployment's error line.  A deployment's events
// are asked for only when its "Recent events" is opened.

import { state, h, clear, time, num, errorBox, heading, canDeploy, modelHref, versionHref, stageBadge, aliasBadge } from './core.js';

const VERBS = [
	['pause', 'Pause', 'hold the rollout at its current step'],
	['resume', 'Resume', 'continue a paused rollout'],
	['promote', 'Promote', 'end the current step now'],
	['abort', 'Abort', 'send traffic back to the stable version and reject the target'],
];

function stepText(d) {
	if (!d.step) return 'no rollout in progress';
	const steps = (d.steps || '').split(',');
	const cur = steps[d.step.index] || d.step.kind;
	return 'step ' + (d.step.index + 1) + ' of ' + d.step.count + ': ' + cur;
}

function v(n) { return n === null || n === undefined ? '—' : 'v' + n; }

function nodesTable(d) {
	const rows = (d.nodes || []).map((n) => h('tr', { 'data-node': n.name },
		h('th', { scope: 'row', text: n.name }),
		h('td', null, (n.versions || []).length
			? h('ul', { class: 'weights' }, n.versions.map((x) => h('li', { 'data-version': String(x.version), 'data-weight': String(x.weight) },
				h('a', { href: versionHref(d.model, x.version), text: 'v' + x.version }), ' ',
				h('span', { class: 'weight', text: x.weight + '%' }),
				h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'w' + Math.max(0, Math.min(100, Math.round(x.weight / 10) * 10)) })),
				x.state && x.state !== 'READY' ? h('span', { class: 'state', text: ' ' + x.state }) : null)))
			: h('span', { class: 'muted', text: 'nothing served' })),
		h('td', { class: n.healthy ? 'ok' : 'bad', text: n.healthy ? 'healthy' : 'unhealthy' })));
	if (!rows.length) rows.push(h('tr', null, h('td', { colspan: '3', class: 'muted', text: 'no node matches the selector' })));
	return h('table', { testid: 'deployment-nodes' },
		h('caption', { text: 'Nodes' }),
		h('thead', null, h('tr', null, ['Node', 'Versions served (weight)', 'Health'].map((t) => h('th', { scope: 'col', text: t })))),
		h('tbody', null, rows));
}

// analysis[].step counts from 1 (controller/rollout.c), unlike step.index
function analysisList(d) {
	const list = d.analysis || [];
	return h('div', { testid: 'deployment-analysis', class: 'analysis' }, h('h3', { text: 'Analysis' }),
		list.length
			? h('ul', null, list.map((a) => h('li', { class: 'result-' + String(a.result).toLowerCase() },
				'step ' + a.step + ': ', h('strong', { text: a.result }),
				Object.keys(a.metrics || {}).length
					? ' (' + Object.entries(a.metrics).map(([k, x]) => k + ' ' + num(x)).join(', ') + ')' : '')))
			: h('p', { class: 'muted', text: 'no analysis results yet' }));
}

function summary(d) {
	const follows = d.stage ? ['stage ', stageBadge(d.stage)] : ['alias ', aliasBadge(d.alias)];
	return h('dl', { class: 'facts' },
		h('dt', { text: 'Serves' }), h('dd', null, h('a', { href: modelHref(d.model), text: d.model }), ' ', follows),
		h('dt', { text: 'Strategy' }), h('dd', { text: d.strategy + ' (' + d.steps + ')' }),
		h('dt', { text: 'Stable' }), h('dd', { class: 'stable', text: v(d.stable_version) }),
		h('dt', { text: 'Target' }), h('dd', { class: 'target', text: v(d.target_version) }),
		d.rejected_version !== null ? [h('dt', { text: 'Rejected' }), h('dd', { class: 'rejected', text: v(d.rejected_version) })] : null,
		h('dt', { text: 'Desired' }), h('dd', { text: v(d.desired_version) }),
		d.verb ? [h('dt', { text: 'Pending' }), h('dd', { class: 'verb', text: d.verb + ' (waiting for the controller)' })] : null,
		h('dt', { text: 'Message' }), h('dd', { class: 'message', text: d.message || '—' }),
		h('dt', { text: 'Updated' }), h('dd', null, time(d.updated_at)));
}

// One deployment's section: the skeleton once, then update(d) per refresh.
function section(name, refresh) {
	const phase = h('span', { testid: 'deployment-phase', class: 'phase', 'aria-live': 'polite' });
	const step = h('span', { testid: 'deployment-step', class: 'step' });
	const error = h('p', { testid: 'deployment-error', class: 'error', role: 'alert', hidden: true });
	const parts = { summary: h('div'), nodes: h('div'), analysis: h('div') };
	const last = {};
	let buttons = null;
	if (canDeploy()) {
		buttons = h('div', { class: 'actions', role: 'group', 'aria-label': 'Rollout actions for ' + name });
		for (const [verb, label, help] of VERBS) {
			const b = h('button', { type: 'button', 'data-action': verb, title: help, text: label });
			b.addEventListener('click', async () => {
				b.disabled = true;
				error.hidden = true;
				error.textContent = '';
				try {
					await refresh.api('/api/v1/deployments/' + encodeURIComponent(name) + '/rollout/' + verb, { method: 'POST', body: {} });
				} catch (e) {
					if (e.name === 'AbortError' || e.status === 401) return;
					error.textContent = verb + ' refused: ' + (e.status ? 'HTTP ' + e.status + ' ' + e.code + ': ' : '') + e.message;
					error.hidden = false;
				} finally {
					b.disabled = false;
				}
				refresh.now();
			});
			buttons.append(b);
		}
	}
	// events: asked for when opened (and again at each opening), never polled
	const evBody = h('div');
	const events = h('details', { testid: 'deployment-events', class: 'events' }, h('summary', { text: 'Recent events' }), evBody);
	events.addEventListener('toggle', async () => {
		if (!events.open) return;
		clear(evBody).append(h('p', { class: 'muted', text: 'Loading…' }));
		try {
			const res = await refresh.api('/api/v1/deployments/' + encodeURIComponent(name) + '/events?limit=20');
			clear(evBody).append(res.events.length
				? h('ol', { class: 'event-list' }, res.events.map((e) => h('li', { 'data-kind': e.kind },
					time(e.time), ' ', h('strong', { text: e.kind }), e.message ? ': ' + e.message : '')))
				: h('p', { class: 'muted', text: 'no events' }));
		} catch (e) {
			if (e.name === 'AbortError' || e.status === 401) return;
			clear(evBody).append(errorBox(e, 'cannot read the events'));
		}
	});
	const el = h('section', { 'data-deployment': name, class: 'deployment', 'aria-labelledby': 'dep-' + name },
		h('h2', { id: 'dep-' + name }, name, ' ', phase),
		h('p', null, step),
		buttons, error, parts.summary, parts.nodes, parts.analysis, events);
	const put = (key, data, draw) => {
		const j = JSON.stringify(data);
		if (last[key] === j) return;
		last[key] = j;
		const n = draw();
		parts[key].replaceWith(n);
		parts[key] = n;
	};
	el.update = (d) => {
		if (phase.textContent !== d.phase) {
			phase.textContent = d.phase;
			phase.className = 'phase phase-' + String(d.phase).toLowerCase();
		}
		const st = stepText(d);
		if (step.textContent !== st) step.textContent = st;
		const { nodes, analysis, ...rest } = d;
		put('summary', rest, () => summary(d));
		put('nodes', nodes, () => nodesTable(d));
		put('analysis', analysis, () => analysisList(d));
	};
	return el;
}

export async function deploymentsPage(view, page) {
	const period = state.config.refresh_ms;
	const live = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', testid: 'deployments-status',
		text: 'Refreshing every ' + (period >= 1000 ? period / 1000 + ' s' : period + ' ms') + '.' });
	const updated = h('p', { class: 'muted', testid: 'deployments-updated' });
	const list = h('div', { testid: 'deployments-list', class: 'deployments' });
	const fail = h('div');
	page.append(heading('Deployments'), live, updated, fail, list);
	const sections = new Map();
	let timer = null, inflight = false, again = false, failing = false;
	const refresh = {
		api: (p, o) => view.api(p, o),
		now: () => { if (inflight) again = true; else { clearTimeout(timer); tick(); } },
	};
	const draw = (deps) => {
		const names = new Set(deps.map((d) => d.name));
		for (const [n, el] of sections) if (!names.has(n)) { el.remove(); sections.delete(n); }
		let prev = null;
		for (const d of deps) {
			let el = sections.get(d.name);
			if (!el) { el = section(d.name, refresh); sections.set(d.name, el); }
			el.update(d);
			// keep the server's order (by name) without moving elements needlessly
			const want = prev ? prev.nextSibling : list.firstChild;
			if (want !== el) list.insertBefore(el, want);
			prev = el;
		}
		const empty = list.querySelector('.empty');
		if (!deps.length && !empty) list.append(h('p', { class: 'muted empty', text: 'No deployments. Create one with mlreg deploy create.' }));
		if (deps.length && empty) empty.remove();
	};
	const tick = async () => {
		inflight = true;
		try {
			const res = await view.api('/api/v1/deployments');
			if (!view.alive) return;
			draw(res.deployments || []);
			updated.textContent = 'Last updated ' + new Date().toISOString().slice(11, 19) + ' UTC.';
			if (failing) {
				failing = false;
				clear(fail);
				live.textContent = 'Refreshing every ' + (period >= 1000 ? period / 1000 + ' s' : period + ' ms') + '.';
			}
		} catch (e) {
			if (e.name === 'AbortError' || !view.alive || e.status === 401) return;
			if (!failing) live.textContent = 'Refresh failed; retrying.';
			failing = true;
			clear(fail).append(errorBox(e, 'cannot refresh the deployments'));
		} finally {
			inflight = false;
		}
		if (!view.alive) return;
		if (again) { again = false; timer = setTimeout(tick, 0); } else timer = setTimeout(tick, period);
	};
	view.onLeave(() => clearTimeout(timer));
	await tick();
}
