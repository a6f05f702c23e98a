// audit.js - the audit page of the mlreg console: the log's entries with
// filters, and the verify button that recomputes the hash chain on the
// server (GET /api/v1/audit/verify).
//
// actor, model, action and since are filters of GET /api/v1/audit (exact
// names; the server's indexes answer them), so a rare actor's entries are
// found however far back they are.

import { h, clear, time, errorBox, heading } from './core.js';

const enc = encodeURIComponent;

function objectOf(e) {
	if (e.subject && e.model && e.subject !== e.model && !e.subject.startsWith(e.model)) return e.model + ' · ' + e.subject;
	return e.subject || e.model || '';
}

function detailsText(d) {
	if (!d || typeof d !== 'object' || !Object.keys(d).length) return '';
	const t = JSON.stringify(d);
	return t.length > 160 ? t.slice(0, 159) + '…' : t;
}

export async function auditPage(view, page, r) {
	const field = (key, label, hint) => {
		const id = 'audit-filter-' + key;
		const input = h('input', { id, testid: id, type: 'text', spellcheck: 'false', autocomplete: 'off',
			value: r.params.get(key) || '', 'aria-describedby': hint ? id + '-hint' : null });
		return [input, h('div', { class: 'field' }, h('label', { for: id, text: label }), input,
			hint ? h('small', { id: id + '-hint', class: 'muted', text: hint }) : null)];
	};
	const [actor, actorF] = field('actor', 'Actor', 'exact principal, e.g. ci-bot');
	const [action, actionF] = field('action', 'Action', 'e.g. promote');
	const [model, modelF] = field('model', 'Model');
	const [since, sinceF] = field('since', 'Since', '2026-11-28T10:00:00Z or 24h');
	const limit = h('select', { id: 'audit-limit' }, [100, 500, 1000, 10000].map((n) => h('option', { value: String(n), text: String(n) })));
	const apply = h('button', { type: 'submit', testid: 'audit-apply', text: 'Apply' });
	const form = h('form', { class: 'filters', 'aria-label': 'Audit filters' }, actorF, actionF, modelF, sinceF,
		h('div', { class: 'field' }, h('label', { for: 'audit-limit', text: 'Entries' }), limit), h('div', { class: 'field end' }, apply));

	const verify = h('button', { type: 'button', testid: 'audit-verify', text: 'Verify chain' });
	const result = h('p', { testid: 'audit-verify-result', class: 'verify', role: 'status', 'aria-live': 'polite' });
	const count = h('p', { class: 'muted', 'aria-live': 'polite' });
	const errors = h('div');
	const tbody = h('tbody');
	const tbl = h('table', { testid: 'audit-table', class: 'audit' },
		h('caption', { class: 'sr-only', text: 'Audit entries, newest first' }),
		h('thead', null, h('tr', null, ['Seq', 'Time', 'Actor', 'Action', 'Object', 'Details'].map((t) => h('th', { scope: 'col', text: t })))),
		tbody);
	page.append(heading('Audit log'),
		h('section', { class: 'verify-box', 'aria-label': 'Chain verification' },
			h('p', { class: 'muted', text: 'Every entry carries the hash of the one before it; verifying recomputes the whole chain on the server.' }),
			verify, result),
		form, count, errors, tbl);

	verify.addEventListener('click', async () => {
		verify.disabled = true;
		result.className = 'verify';
		result.textContent = 'Verifying…';
		try {
			const v = await view.api('/api/v1/audit/verify');
			if (v.ok) {
				result.className = 'verify ok';
				result.textContent = 'Chain verified: ' + v.entries + ' entries' + (v.head ? ' (head #' + v.head.seq + ' ' + String(v.head.hash).slice(0, 16) + '…)' : '') + '.';
			} else {
				result.className = 'verify bad';
				result.textContent = 'Chain BROKEN at entry #' + v.first_bad + ': ' + (v.message || 'hash mismatch') + ' (' + v.entries + ' entries checked).';
			}
		} catch (e) {
			if (e.name === 'AbortError' || e.status === 401) return;
			result.className = 'verify bad';
			result.textContent = 'Cannot verify: ' + e.message;
		} finally {
			verify.disabled = false;
		}
	});

	let seq = 0;
	const load = async () => {
		const my = ++seq;
		const q = new URLSearchParams();
		for (const [k, input] of [['actor', actor], ['model', model], ['action', action], ['since', since]])
			if (input.value.trim()) q.set(k, input.value.trim());
		q.set('limit', limit.value);
		clear(errors);
		count.textContent = 'Loading…';
		let res;
		try {
			res = await view.api('/api/v1/audit?' + q.toString());
		} catch (e) {
			if (e.name === 'AbortError' || e.status === 401 || my !== seq) return;
			count.textContent = '';
			clear(tbody);
			errors.append(errorBox(e, 'cannot read the audit log'));
			return;
		}
		if (!view.alive || my !== seq) return;
		const entries = res.entries;
		clear(tbody);
		for (const e of entries)
			tbody.append(h('tr', { 'data-seq': String(e.seq) },
				h('td', { class: 'num', text: String(e.seq) }),
				h('td', null, time(e.time)),
				h('td', { class: 'actor', text: e.actor }),
				h('td', { class: 'action', text: e.action }),
				h('td', { class: 'object', text: objectOf(e) }),
				h('td', { class: 'details', title: JSON.stringify(e.details || {}), text: detailsText(e.details) })));
		if (!entries.length) tbody.append(h('tr', null, h('td', { colspan: '6', class: 'muted', text: 'No entries match.' })));
		count.textContent = entries.length + ' entries shown' +
			(res.entries.length >= Number(limit.value) ? '; more may exist: raise the number of entries or narrow the filters' : '') + '.';
	};
	form.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
	await load();
}
