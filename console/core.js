// core.js - what every page of the mlreg console shares: the API client,
// the DOM builder, the view life cycle, formatting and links.
//
// Safety rules kept here so pages cannot forget them: every string from the
// API becomes a text node (h() never parses markup, and no console file uses
// an API that does), links are built only from '#/' plus
// encodeURIComponent, and requests go only to this origin's /api/v1 with the
// token from sessionStorage.  A view owns an AbortController: leaving a page
// aborts its requests and stops its timers, so a slow answer can never draw
// into the next page and a hidden page never polls.

export const TOKEN_KEY = 'mlreg.token';

export const state = {
	whoami: null,              // GET /api/v1/whoami
	config: { refresh_ms: 2000 }, // GET /console/config.json
};

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

let unauthorized = () => {};
// app.js tells core what a 401 does (back to the sign-in form); fn gets the
// server's message.
export function onUnauthorized(fn) { unauthorized = fn; }

export function token() { return sessionStorage.getItem(TOKEN_KEY); }

// fetch JSON from this server; throws ApiError ({"error":{"code","message"}}
// bodies become its code and message).  A 401 signs the user out first.
export async function api(path, { method = 'GET', body, signal } = {}) {
	const headers = { Accept: 'application/json' };
	const t = token();
	if (t) headers.Authorization = 'Bearer ' + t;
	const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error', signal };
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let r;
	try {
		r = await fetch(path, init);
	} catch (e) {
		if (e.name === 'AbortError') throw e;
		throw new ApiError(0, 'network', 'cannot reach the server: ' + e.message);
	}
	const text = await r.text();
	let data = null;
	if (text) {
		try { data = JSON.parse(text); } catch (e) { data = null; }
	}
	if (r.status === 401) {
		const msg = data && data.error && data.error.message ? data.error.message : 'unauthenticated';
		unauthorized(msg);
		throw new ApiError(401, 'unauthenticated', msg);
	}
	if (!r.ok) {
		const e = (data && data.error) || {};
		throw new ApiError(r.status, e.code || 'http_' + r.status, e.message || r.statusText || 'HTTP ' + r.status);
	}
	return data;
}

// ---- the current view ----
let current = null;

// Start a new view (a page render): the previous one is left (its requests
// aborted, its timers cleared).  Pages check view.alive before drawing.
export function newView() {
	if (current) current.leave();
	const ac = new AbortController();
	const v = {
		signal: ac.signal,
		alive: true,
		cleanups: [],
		leave() {
			if (!v.alive) return;
			v.alive = false;
			ac.abort();
			for (const f of v.cleanups) f();
		},
		onLeave(f) { v.cleanups.push(f); },
		api(path, opts = {}) { return api(path, { ...opts, signal: ac.signal }); },
	};
	current = v;
	return v;
}
export function leaveView() {
	if (current) current.leave();
	current = null;
}

// ---- DOM ----
// h('tag', {attrs}, children...): attrs are set with setAttribute except
// 'text' (textContent) and 'testid' (data-testid); children are nodes,
// strings (text nodes), arrays, or null/false (skipped).
export function h(tag, attrs, ...children) {
	return build(document.createElement(tag), attrs, children);
}
const SVGNS = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
	return build(document.createElementNS(SVGNS, tag), attrs, children);
}
function build(e, attrs, children) {
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'text') e.textContent = String(v);
		else if (k === 'testid') e.setAttribute('data-testid', v);
		else if (k.startsWith('on')) throw new Error('event handlers are added with addEventListener');
		else e.setAttribute(k, v === true ? '' : String(v));
	}
	append(e, children);
	return e;
}
function append(e, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false) continue;
		if (Array.isArray(c)) append(e, c);
		else if (c instanceof Node) e.appendChild(c);
		else e.appendChild(document.createTextNode(String(c)));
	}
}
// parent.append() would write null as the text "null": this skips it
export function add(parent, ...children) {
	append(parent, children);
	return parent;
}
export function clear(e) {
	while (e.firstChild) e.removeChild(e.firstChild);
	return e;
}

// ---- formatting ----
const pad = (n) => String(n).padStart(2, '0');
// "2026-11-29 05:19:38 UTC" in a <time datetime=ISO>
export function time(iso) {
	if (!iso) return h('span', { class: 'muted', text: '—' });
	const d = new Date(iso);
	if (isNaN(d)) return h('span', { text: iso });
	const t = d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
		pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + ' UTC';
	return h('time', { datetime: iso, text: t });
}
export function bytes(n) {
	if (typeof n !== 'number') return '—';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
	return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}
export function num(v) {
	if (typeof v !== 'number') return v === null || v === undefined ? '—' : String(v);
	return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6);
}
export function shortDigest(d) {
	return typeof d === 'string' && d.startsWith('sha256:') ? d.slice(0, 19) + '…' : String(d || '—');
}

// ---- links and badges ----
export const modelHref = (name) => '#/models/' + encodeURIComponent(name);
export const versionHref = (name, n) => modelHref(name) + '/versions/' + encodeURIComponent(String(n));

export function stageBadge(stage) {
	return h('span', { class: 'badge stage', 'data-stage': stage, text: stage });
}
export function aliasBadge(alias) {
	return h('span', { class: 'badge alias', 'data-alias': alias, text: '@' + alias });
}

export function errorBox(err, what) {
	const msg = err instanceof ApiError
		? (err.status ? 'HTTP ' + err.status + ' ' + err.code + ': ' : '') + err.message
		: String(err && err.message ? err.message : err);
	return h('p', { class: 'error', role: 'alert', text: (what ? what + ': ' : '') + msg });
}

// A table with a caption and header cells (scope=col); rows is an array of
// <tr> the caller built.
export function table(testid, caption, headers, rows, attrs = {}) {
	return h('table', { testid, ...attrs },
		caption ? h('caption', { text: caption }) : null,
		h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col', text: t })))),
		h('tbody', null, rows));
}

// key/value table (metrics, params, tags)
export function kvTable(testid, caption, obj, fmt = (v) => String(v)) {
	const keys = Object.keys(obj || {}).sort();
	if (!keys.length) return h('div', { testid }, h('h3', { text: caption }), h('p', { class: 'muted', text: 'none' }));
	return h('div', { testid, class: 'kv' }, h('h3', { text: caption }),
		table(null, null, ['key', 'value'],
			keys.map((k) => h('tr', null, h('th', { scope: 'row', text: k }), h('td', { text: fmt(obj[k]) })))));
}

export function canDeploy() {
	return !!state.whoami && (state.whoami.role === 'deployer' || state.whoami.role === 'admin');
}

// Page heading: sets the document title and takes the focus, so a screen
// reader announces the new page and Tab starts from it.
export function heading(text, sub) {
	document.title = text + ' · mlreg';
	return h('h1', { tabindex: '-1', id: 'page-title' }, text, sub ? h('span', { class: 'sub', text: sub }) : null);
}
