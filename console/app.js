// app.js - the mlreg console's entry point: settings, sign-in and sign-out,
// the header, and hash routing to the pages (docs/console.md).
//
// The token lives in sessionStorage ("mlreg.token"): it survives a reload of
// the tab but not the tab itself, and is never put in a URL or a cookie.
// Routing is by hash (#/models, #/models/NAME, #/models/NAME/versions/N,
// #/deployments, #/audit) so the server serves one page and every view
// is a link that can be bookmarked; model names hold '/' and travel
// encodeURIComponent-ed as one segment.

import { TOKEN_KEY, state, api, onUnauthorized, newView, leaveView, h, clear, errorBox, heading } from './core.js';
import { modelsPage, modelPage, versionPage } from './models.js';
import { deploymentsPage } from './deployments.js';
import { auditPage } from './audit.js';

const $ = (id) => document.getElementById(id);

// "#/models/risk%2Ffraud/versions/3" -> {page:'version', model:'risk/fraud', version:3}
export function parseRoute(hash) {
	let raw = hash.replace(/^#\/?/, '');
	let query = '';
	const qi = raw.indexOf('?');
	if (qi >= 0) {
		query = raw.slice(qi + 1);
		raw = raw.slice(0, qi);
	}
	const params = new URLSearchParams(query);
	const segs = raw.split('/').filter((x, i, a) => x !== '' || i < a.length - 1).map((x) => {
		try { return decodeURIComponent(x); } catch (e) { return x; }
	});
	if (!raw || (segs[0] === 'models' && segs.length === 1)) return { page: 'models', params };
	if (segs[0] === 'models') {
		// one encoded segment is the rule; a raw 'risk/fraud' is tolerated
		const rest = segs.slice(1);
		const n = rest.length;
		if (n >= 3 && rest[n - 2] === 'versions' && /^[0-9]+$/.test(rest[n - 1]))
			return { page: 'version', model: rest.slice(0, -2).join('/'), version: Number(rest[n - 1]), params };
		return { page: 'model', model: rest.join('/'), params };
	}
	if (segs[0] === 'deployments' && segs.length === 1) return { page: 'deployments', params };
	if (segs[0] === 'audit' && segs.length === 1) return { page: 'audit', params };
	return { page: 'notfound', params };
}

function showSignin(message) {
	leaveView();
	state.whoami = null;
	$('top').hidden = true;
	clear($('page'));
	$('signin').hidden = false;
	const err = $('signin-error');
	err.textContent = message || '';
	err.hidden = !message;
	document.title = 'Sign in · mlreg';
	$('signin-token').value = '';
	$('signin-token').focus();
}

function signOut(message) {
	sessionStorage.removeItem(TOKEN_KEY);
	showSignin(message);
}

function showHeader() {
	const w = state.whoami;
	$('whoami').textContent = 'Signed in as ' + w.principal + ' (role ' + w.role + ')';
	$('whoami').title = 'token ' + w.token_name + (w.models ? ', models ' + w.models : '') + (w.stages ? ', stages ' + w.stages : '');
	$('top').hidden = false;
	$('signin').hidden = true;
}

function markNav(page) {
	const section = page === 'model' || page === 'version' ? 'models' : page;
	for (const a of document.querySelectorAll('nav a[data-nav]')) {
		if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
}

async function route() {
	if (!state.whoami) return;
	const r = parseRoute(location.hash);
	const view = newView();
	const page = clear($('page'));
	markNav(r.page);
	try {
		switch (r.page) {
		case 'models': await modelsPage(view, page, r); break;
		case 'model': await modelPage(view, page, r); break;
		case 'version': await versionPage(view, page, r); break;
		case 'deployments': await deploymentsPage(view, page, r); break;
		case 'audit': await auditPage(view, page, r); break;
		default:
			page.append(heading('Not found'), h('p', null, 'No page here. ', h('a', { href: '#/models', text: 'Models' })));
		}
	} catch (e) {
		if (e.name === 'AbortError' || !view.alive || e.status === 401) return;
		page.append(errorBox(e, 'cannot show this page'));
	}
	const t = $('page-title');
	if (view.alive && t && !page.contains(document.activeElement)) t.focus({ preventScroll: true });
}

let signingIn = false;

async function signIn(tok) {
	sessionStorage.setItem(TOKEN_KEY, tok);
	signingIn = true;
	try {
		state.whoami = await api('/api/v1/whoami');
	} catch (e) {
		if (e.status === 401) return; // api() already showed the form with the reason
		sessionStorage.removeItem(TOKEN_KEY);
		showSignin('Cannot sign in: ' + e.message);
		return;
	} finally {
		signingIn = false;
	}
	showHeader();
	await route();
}

async function boot() {
	onUnauthorized((why) => signOut(signingIn ? 'This token was refused (' + why + ').'
		: 'Signed out: the server no longer accepts this token (' + why + '). Sign in again.'));
	$('signin-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		const tok = $('signin-token').value.trim();
		if (!tok) {
			$('signin-error').textContent = 'Enter a token.';
			$('signin-error').hidden = false;
			return;
		}
		signIn(tok);
	});
	$('signout').addEventListener('click', () => signOut(''));
	window.addEventListener('hashchange', route);
	try {
		const c = await api('/console/config.json');
		if (c && Number.isFinite(c.refresh_ms) && c.refresh_ms > 0) state.config.refresh_ms = c.refresh_ms;
	} catch (e) { /* the default period serves */ }
	const tok = sessionStorage.getItem(TOKEN_KEY);
	if (tok) await signIn(tok);
	else showSignin('');
}

boot();
