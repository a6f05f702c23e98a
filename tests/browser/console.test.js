'use strict';
// console.test.js: the mlreg web console driven in Debian's Chromium by
// playwright-core, against the real server and data t_browser.sh made.
// It uses only the console's stable hooks (docs/console.md: data-testid
// attributes, visible text and roles), walks every page a person would
// (sign-in, models, a model, a version and its lineage graph, deployments,
// audit), drives a live canary rollout from the deployments page (pause,
// resume, promote) and checks role awareness (a reader sees no buttons) and
// the 401 path.  Throughout it checks that the page asks no host but the
// server and logs no console error.  A plain node script, no test runner:
// each step is named, the first failure prints that name and the reason,
// screenshots every open page and exits 1.
//
// usage: node console.test.js FIXTURE.json   (t_browser.sh writes it)

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { chromium } = require('playwright-core');

const fx = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const origin = new URL(fx.url).origin;
const T0 = Date.now();
const WAIT = 30000; // longest wait for one thing to show (the ASan server is slow)
const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/;

let current = 'start';
const problems = []; // requests to other hosts, console errors, uncaught exceptions
let expectedErrors = []; // console errors the current step causes on purpose
const pages = {}; // label -> page, for the screenshots of a failure
const shots = [];

function log(msg) {
  process.stderr.write(`[console.test ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function step(name, fn) {
  current = name;
  log(`== ${name}`);
  await fn();
  assertClean();
}

function assertClean() {
  assert.deepEqual(problems, [], 'the page stayed on its server and logged no error');
}

// waitUntil WHAT FN: FN's value once it is truthy; FN may throw while waiting.
async function waitUntil(what, fn, timeoutMs = WAIT) {
  const end = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = null;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await sleep(50);
  }
}

// expecting RES FN: run FN while console errors matching one of RES are expected
// (Chromium logs every 4xx answer of a fetch as "Failed to load resource").
async function expecting(res, fn) {
  expectedErrors = res;
  try {
    await fn();
  } finally {
    expectedErrors = [];
  }
}
const FAILED_401 = /Failed to load resource: the server responded with a status of 401/;
const FAILED_409 = /Failed to load resource: the server responded with a status of 409/;

function watch(page, label) {
  pages[label] = page;
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:')) return;
    let o = u;
    try {
      o = new URL(u).origin;
    } catch (_) { /* keep the raw URL */ }
    if (o !== origin) problems.push(`[${label}] request to another host during "${current}": ${u}`);
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    if (expectedErrors.some((re) => re.test(t))) return;
    problems.push(`[${label}] console error during "${current}": ${t} (${m.location().url || 'no url'})`);
  });
  page.on('pageerror', (e) => problems.push(`[${label}] uncaught exception during "${current}": ${e.message}`));
  page.on('crash', () => problems.push(`[${label}] the page crashed during "${current}"`));
}

async function shot(page, name) {
  const file = path.join(fx.artifacts, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

const tid = (scope, id) => scope.locator(`[data-testid="${id}"]`);
const text = async (loc) => ((await loc.textContent()) || '').replace(/\s+/g, ' ').trim();
const hashOf = (page) => page.evaluate(() => window.location.hash);
// showing LOC NEEDLES WHAT: LOC's text once it holds every needle (parts of a
// page may render after others)
const showing = (loc, needles, what) => waitUntil(`${what} to show ${needles.join(', ')}`, async () => {
  const t = await text(loc);
  return needles.every((n) => t.includes(n)) ? t : null;
});

// mlreg ARGS: the real CLI as the admin; a sanitizer report fails the test.
function mlreg(...args) {
  const r = spawnSync(fx.mlreg, args, {
    env: { ...process.env, MLREG_REGISTRY: fx.url, MLREG_TOKEN: fx.admin },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: WAIT,
  });
  const what = `mlreg ${args.join(' ')}`;
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, SANITIZER_RE, `sanitizer report from ${what}: ${r.stderr}`);
  assert.equal(r.status, 0, `${what} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

// api PATH: a GET of the registry from node (not the page), as the admin.
async function api(p) {
  const r = await fetch(fx.url + p, { headers: { Authorization: `Bearer ${fx.admin}` } });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

async function signIn(page, token, who) {
  await tid(page, 'signin-form').waitFor({ timeout: WAIT });
  await tid(page, 'signin-token').fill(token);
  await tid(page, 'signin-submit').click();
  await waitUntil(`whoami to name ${who.join(' and ')}`, async () => {
    const t = await text(tid(page, 'whoami'));
    return who.every((w) => t.includes(w));
  });
}

async function newPage(browser, label) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await ctx.newPage();
  watch(page, label);
  return page;
}

async function main() {
  // a container's /dev/shm is often too small for Chromium; root needs --no-sandbox
  const args = ['--disable-dev-shm-usage'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: fx.chromium, headless: true, args });
  log(`Chromium ${browser.version()}, server ${fx.url}`);
  try {
    await run(browser);
  } catch (e) {
    process.stderr.write(`FAIL console.test.js [${current}]: ${e.message}\n`);
    if (problems.length) process.stderr.write(`also seen:\n  ${problems.join('\n  ')}\n`);
    for (const [label, page] of Object.entries(pages)) {
      try {
        await shot(page, `FAILED-${label}`);
        process.stderr.write(`screenshot of "${label}" at the failure: ${shots[shots.length - 1]}\n`);
      } catch (_) { /* a closed page */ }
    }
    await browser.close();
    process.exit(1);
  }
  await browser.close();
  for (const f of shots) log(`screenshot: ${f}`);
  log('PASS');
}

async function run(browser) {
  const M = fx.model;
  const D = fx.deployment;
  const page = await newPage(browser, 'deployer');

  await step('the console loads: sign-in form, "Token" label, nav hidden', async () => {
    const resp = await page.goto(fx.url + '/');
    assert.equal(resp.status(), 200, 'GET /');
    assert.match(resp.headers()['content-security-policy'] || '', /default-src 'self'/, 'CSP header on /');
    await tid(page, 'signin-form').waitFor({ timeout: WAIT });
    const label = page.getByLabel('Token', { exact: true });
    assert.equal(await label.getAttribute('data-testid'), 'signin-token', 'the input labelled "Token" is signin-token');
    assert.equal(await tid(page, 'whoami').isVisible(), false, 'no whoami before signing in');
  });

  await step('a bad token is refused with a message', async () => {
    await expecting([FAILED_401], async () => {
      await tid(page, 'signin-token').fill('mlreg_not_a_real_token');
      await tid(page, 'signin-submit').click();
      await waitUntil('signin-error to show a message', async () =>
        (await tid(page, 'signin-error').isVisible()) && (await text(tid(page, 'signin-error'))).length > 0);
    });
    assert.equal(await tid(page, 'whoami').isVisible(), false, 'still signed out');
    await shot(page, 'signin');
  });

  await step('a good token signs in: whoami names the principal and the role', async () => {
    await signIn(page, fx.deployer, ['alice', 'deployer']);
    const stored = await page.evaluate(() => sessionStorage.getItem('mlreg.token'));
    assert.equal(stored, fx.deployer, 'the token is kept in sessionStorage "mlreg.token"');
    const local = await page.evaluate(() => JSON.stringify(localStorage));
    assert.ok(!local.includes(fx.deployer), 'the token is not in localStorage');
    assert.ok(!page.url().includes(fx.deployer), 'the token is not in the URL');
    for (const name of ['Models', 'Deployments', 'Audit']) {
      assert.ok(await page.getByRole('link', { name, exact: true }).isVisible(), `nav link ${name}`);
    }
    assert.ok(await tid(page, 'signout').isVisible(), 'signout button');
  });

  await step('models page lists both models; search narrows to one', async () => {
    await page.getByRole('link', { name: 'Models', exact: true }).click();
    await waitUntil('#/models', async () => (await hashOf(page)) === '#/models');
    const table = tid(page, 'models-table');
    const row = table.locator(`tr[data-model="${M}"]`);
    const other = table.locator(`tr[data-model="${fx.other_model}"]`);
    await row.waitFor({ timeout: WAIT });
    await other.waitFor({ timeout: WAIT });
    // the stages may arrive after the row (fetched as rows come into view)
    const t = await waitUntil(`the ${M} row to name its stages`, async () => {
      const r = await text(row);
      return r.includes('production') && r.includes('staging') ? r : null;
    });
    assert.ok(t.includes('3'), `the ${M} row names its latest version 3: "${t}"`);
    await shot(page, 'models');
    await tid(page, 'models-search').fill('fraud');
    await tid(page, 'models-search').press('Enter');
    await waitUntil(`${fx.other_model} to be filtered out`, async () =>
      (await other.count()) === 0 || !(await other.isVisible()));
    assert.ok(await row.isVisible(), `${M} still listed after searching "fraud"`);
    await row.getByRole('link').first().click();
    const want = `#/models/${encodeURIComponent(M)}`;
    await waitUntil(`the hash ${want}`, async () => (await hashOf(page)) === want);
  });

  await step('model page: versions with metrics and stage badges, timeline, alias, policy', async () => {
    const versions = tid(page, 'model-versions');
    for (const v of ['1', '2', '3']) await versions.locator(`tr[data-version="${v}"]`).waitFor({ timeout: WAIT });
    await versions.locator('tr[data-version="1"] .badge[data-stage="production"]').waitFor({ timeout: WAIT });
    await versions.locator('tr[data-version="2"] .badge[data-stage="staging"]').waitFor({ timeout: WAIT });
    assert.equal(await versions.locator('tr[data-version="3"] .badge[data-stage]').count(), 0, 'v3 holds no stage');
    await showing(versions.locator('tr[data-version="2"]'), ['0.93', '0.27'], 'the v2 row (auc, loss)');
    // one entry per stage move (3); the alias move may be listed too
    const hist = (await api(`/api/v1/models/${encodeURIComponent(M)}/history`)).history;
    const moves = hist.filter((h) => h.target === 'stage').length;
    assert.equal(moves, 3, 'the fixture made 3 stage moves');
    const items = tid(page, 'model-timeline').locator('li');
    await waitUntil('3 timeline entries', async () => (await items.count()) >= 3);
    const entries = await items.allTextContents();
    assert.ok(entries.length === moves || entries.length === hist.length,
      `one timeline entry per history entry (${moves} stage moves, ${hist.length} with aliases): ${JSON.stringify(entries)}`);
    assert.ok(entries.some((e) => e.includes('production') && e.includes('1')), 'timeline: v1 to production');
    assert.ok(entries.some((e) => e.includes('staging') && e.includes('2')), 'timeline: v2 to staging');
    await showing(tid(page, 'model-aliases'), ['champion'], 'model-aliases');
    await showing(tid(page, 'model-policies'), ['production', 'auc>=0.9'], 'model-policies');
    await shot(page, 'model');
    await versions.locator('tr[data-version="2"] a[href*="versions/2"]').first().click();
    const want = `#/models/${encodeURIComponent(M)}/versions/2`;
    await waitUntil(`the hash ${want}`, async () => (await hashOf(page)) === want);
  });

  await step('version page: files, metrics, params, tags, signature, lineage graph', async () => {
    await waitUntil('version-files to list model.json', async () =>
      (await text(tid(page, 'version-files'))).includes('model.json'));
    await showing(tid(page, 'version-files'), ['mlreg-model.json'], 'version-files');
    await showing(tid(page, 'version-metrics'), ['auc', '0.93', 'loss', '0.27'], 'version-metrics');
    await showing(tid(page, 'version-params'), ['trees', '12', 'lr', '0.3'], 'version-params');
    await showing(tid(page, 'version-tags'), ['team', 'risk'], 'version-tags');
    const sig = await showing(tid(page, 'version-signatures'), [fx.key], 'version-signatures');
    assert.ok(sig.includes('verified') && !sig.includes('invalid'), `signatures: "${sig}"`);

    const graph = tid(page, 'lineage-graph');
    await waitUntil('the lineage graph to draw', async () => (await graph.locator('svg g.node').count()) >= 4);
    assert.equal(await graph.locator('svg').count(), 1, 'one svg in lineage-graph');
    const cur = graph.locator('g.node.current');
    assert.equal(await cur.count(), 1, 'one current node');
    assert.equal(await cur.getAttribute('data-id'), `version:${M}:2`, 'the current node is this version');
    const up = graph.locator(`g.node[data-id="version:${M}:1"]`);
    assert.equal(await up.count(), 1, 'upstream: the parent version 1');
    assert.ok((await graph.locator('g.node[data-id^="dataset:"]').count()) >= 1, 'upstream: a dataset');
    assert.equal(await graph.locator(`g.node[data-id="version:${M}:3"]`).count(), 1, 'downstream: version 3');
    assert.ok((await graph.locator('path.edge').count()) >= 3, 'edges drawn');
    const nodes = graph.locator('g.node');
    for (let i = 0; i < (await nodes.count()); i++) {
      assert.equal(await nodes.nth(i).locator('title').count(), 1, `node ${i} has a <title>`);
    }
    await shot(page, 'version');
    await up.click();
    const want = `#/models/${encodeURIComponent(M)}/versions/1`;
    await waitUntil(`the parent's node to lead to ${want}`, async () => (await hashOf(page)) === want);
    await waitUntil('version 1 to be the current node', async () =>
      (await graph.locator('g.node.current').getAttribute('data-id')) === `version:${M}:1`);
    await waitUntil('version 1 shows "unsigned"', async () =>
      (await text(tid(page, 'version-signatures'))).includes('unsigned'));
  });

  // the deployments page is watched from here on: each distinct
  // (phase, step) it shows, and every request it makes
  const seen = [];
  const polls = [];
  const verbs = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/v1/deployments')) polls.push(Date.now());
    if (r.method() === 'POST' && u.pathname.startsWith(`/api/v1/deployments/${D}/rollout/`)) verbs.push(u.pathname);
  });
  const sec = page.locator(`section[data-deployment="${D}"]`);
  const phase = () => text(tid(sec, 'deployment-phase'));
  const stepText = () => text(tid(sec, 'deployment-step'));
  // one atomic read of phase and step, without waiting, every 40 ms
  const sample = () => page.evaluate((d) => {
    const s = document.querySelector(`section[data-deployment="${d}"]`);
    const get = (id) => {
      const e = s && s.querySelector(`[data-testid="${id}"]`);
      return e ? e.textContent.replace(/\s+/g, ' ').trim() : '';
    };
    return s ? `${get('deployment-phase')} | ${get('deployment-step')}` : null;
  }, D);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        const s = await sample();
        if (s && seen[seen.length - 1] !== s) seen.push(s);
      } catch (_) { /* a navigation in between */ }
      await sleep(40);
    }
  })();
  const button = (verb) => sec.locator(`button[data-action="${verb}"]`);
  async function press(verb) {
    await button(verb).waitFor({ timeout: WAIT });
    await button(verb).click();
    await waitUntil(`the ${verb} POST`, async () => verbs.some((p) => p.endsWith(`/rollout/${verb}`)));
  }
  const waitPhase = (want, extra = async () => true) =>
    waitUntil(`phase ${want} (seen so far: ${seen.slice(-6).join('; ')})`, async () =>
      (await phase()) === want && extra());

  await step('deployments page: the deployment, its nodes, Healthy on v1, refreshing by itself', async () => {
    await page.getByRole('link', { name: 'Deployments', exact: true }).click();
    await waitUntil('#/deployments', async () => (await hashOf(page)) === '#/deployments');
    await tid(page, 'deployments-list').waitFor({ timeout: WAIT });
    await sec.waitFor({ timeout: WAIT });
    await waitPhase('Healthy');
    const nodes = tid(sec, 'deployment-nodes');
    await waitUntil('both nodes listed', async () => {
      const t = await text(nodes);
      return t.includes('n1') && t.includes('n2');
    });
    await page.evaluate(() => { window.__mlregNoReload = 1; });
    const n0 = polls.length;
    await sleep(1500);
    assert.ok(polls.length - n0 >= 3, `the page refreshes every 200 ms: ${polls.length - n0} requests in 1.5 s`);
  });

  await step('a canary starts (CLI promote): phase and step change without a reload', async () => {
    mlreg('promote', `${M}:2`, '--to', 'production');
    await waitPhase('Progressing');
    // the analysis is step 2 of 6: its result names that step (as the CLI's
    // status does: the API's analysis[].step counts from 1)
    const an = await showing(tid(sec, 'deployment-analysis'), ['Successful'], 'deployment-analysis');
    assert.match(an, /step 2\b/, `the analysis result names its step, 2 of 6: "${an}"`);
    assert.doesNotMatch(an, /step [13-6]\b/, `the analysis result names no other step: "${an}"`);
    await waitUntil('step 3 of 6 (pause:30s)', async () => /step 3 of 6/.test(await stepText()));
    const steps = new Set(seen.map((s) => s.split(' | ')[1]));
    assert.ok(steps.size >= 2, `the step changed over refreshes: ${JSON.stringify(seen)}`);
    const t = await text(tid(sec, 'deployment-nodes'));
    assert.ok(t.includes('80') && t.includes('20'), `nodes serve 80/20: "${t}"`);
    assert.equal(await page.evaluate(() => window.__mlregNoReload), 1, 'no reload');
    await shot(page, 'deployments');
  });

  await step('pause: the phase becomes Paused', async () => {
    await press('pause');
    await waitPhase('Paused');
    assert.match(await stepText(), /step 3 of 6/, 'paused in the step it was in');
  });

  await step('meanwhile a reader sees the paused rollout but no action button', async () => {
    const rp = await newPage(browser, 'reader');
    await rp.goto(fx.url + '/#/deployments');
    await signIn(rp, fx.reader, ['bob', 'reader']);
    const rsec = rp.locator(`section[data-deployment="${D}"]`);
    await rsec.waitFor({ timeout: WAIT });
    await showing(tid(rsec, 'deployment-step'), ['step 3 of 6'], 'the reader\'s deployment-step');
    assert.equal(await text(tid(rsec, 'deployment-phase')), 'Paused', 'the reader sees Paused');
    await sleep(500); // a few refreshes
    assert.equal(await rp.locator('button[data-action]').count(), 0, 'no action buttons for a reader');
    assert.ok((await sec.locator('button[data-action]').count()) > 0, 'while the deployer has them');
    await shot(rp, 'deployments-reader');
    await rp.context().close();
    delete pages.reader;
  });

  await step('pause again while Paused: the server\'s refusal shows in deployment-error', async () => {
    const err = tid(sec, 'deployment-error');
    await expecting([FAILED_409], async () => {
      await button('pause').click();
      await waitUntil('deployment-error to show the refusal', async () =>
        (await err.isVisible()) && (await text(err)).length > 0);
    });
    assert.equal(await phase(), 'Paused', 'still Paused');
  });

  await step('resume: Progressing again', async () => {
    await press('resume');
    await waitPhase('Progressing');
  });

  await step('promote: on to weight 50 and the open-ended pause step (the controller pauses)', async () => {
    await press('promote');
    await waitPhase('Paused', async () => /step 5 of 6/.test(await stepText()));
  });

  await step('promote: weight 100, Healthy on v2, still without a reload', async () => {
    verbs.length = 0;
    await press('promote');
    await waitPhase('Healthy');
    assert.equal(await page.evaluate(() => window.__mlregNoReload), 1, 'no reload');
    sampling = false;
    await sampler;
    const last = await sample(); // the sampler may not have run since
    if (seen[seen.length - 1] !== last) seen.push(last);
    // weight:100 after the last promote may be too brief to be seen
    const phases = seen.map((s) => s.split(' | ')[0]).filter((p, i, a) => p !== a[i - 1]).join(',');
    assert.match(phases, /^Healthy,Progressing,Paused,Progressing,Paused,(Progressing,)?Healthy$/,
      `phases over the rollout: ${JSON.stringify(seen)}`);
  });

  await step('a revoked token returns to the sign-in form with a message', async () => {
    const tp = await newPage(browser, 'revoked');
    await tp.goto(fx.url + '/#/deployments');
    await signIn(tp, fx.temp, ['carol', 'reader']);
    await tp.locator(`section[data-deployment="${D}"]`).waitFor({ timeout: WAIT });
    await expecting([FAILED_401], async () => {
      mlreg('token', 'revoke', 'temp');
      await tid(tp, 'signin-form').waitFor({ timeout: WAIT });
      await waitUntil('signin-error to explain', async () => (await text(tid(tp, 'signin-error'))).length > 0);
    });
    await tp.context().close();
    delete pages.revoked;
  });

  await step('audit page: filter by action and by actor', async () => {
    await page.getByRole('link', { name: 'Audit', exact: true }).click();
    await waitUntil('#/audit', async () => (await hashOf(page)) === '#/audit');
    const rows = tid(page, 'audit-table').locator('tbody tr');
    await waitUntil('audit entries', async () => (await rows.count()) >= 10);
    await tid(page, 'audit-filter-action').fill('rollout.pause');
    await tid(page, 'audit-apply').click();
    await waitUntil('only rollout.pause entries', async () => {
      const all = await rows.allTextContents();
      return all.length >= 1 && all.every((r) => r.includes('rollout.pause'));
    });
    await showing(rows.first(), ['alice', D], 'the rollout.pause entry (actor, object)');
    await tid(page, 'audit-filter-action').fill('');
    await tid(page, 'audit-filter-actor').fill('alice');
    await tid(page, 'audit-apply').click();
    await waitUntil('only alice\'s 4 entries (pause, resume, 2 promotes)', async () => {
      const all = await rows.allTextContents();
      return all.length === 4 && all.every((r) => r.includes('alice'));
    });
  });

  await step('audit verify: the chain holds', async () => {
    const before = (await api('/api/v1/audit/verify')).entries;
    await tid(page, 'audit-verify').click();
    const res = await waitUntil('audit-verify-result to say verified or BROKEN', async () => {
      const t = await text(tid(page, 'audit-verify-result'));
      return /verified|BROKEN/.test(t) ? t : null;
    });
    assert.ok(res.includes('verified') && !res.includes('BROKEN'), `verify result: "${res}"`);
    const after = (await api('/api/v1/audit/verify')).entries;
    const n = Number((res.match(/\d+/) || ['NaN'])[0]);
    assert.ok(n >= before && n <= after, `the result names the entry count (${before}..${after}): "${res}"`);
    await shot(page, 'audit');
  });

  await step('audit verify: an entry changed behind the server\'s back shows BROKEN, then verified once put back', async () => {
    // someone with write access to the database edits one entry in the middle
    // of the chain (as t_audit_tamper does with the CLI); the original is kept
    // in a side table and put back afterwards, so the rest of the run sees a
    // sound chain again
    const n = (await api('/api/v1/audit/verify')).entries;
    const seq = Math.max(2, Math.floor(n / 2));
    const sql = (q) => {
      const r = spawnSync('sqlite3', [fx.db, q], { encoding: 'utf8', timeout: 20000 });
      assert.equal(r.status, 0, `sqlite3 "${q}": ${r.stderr}`);
      return r.stdout.trim();
    };
    sql(`CREATE TABLE t_browser_keep AS SELECT seq, details FROM audit_log WHERE seq = ${seq}; ` +
        `UPDATE audit_log SET details = '{"tampered":true}' WHERE seq = ${seq};`);
    try {
      await tid(page, 'audit-verify').click();
      const res = await waitUntil('audit-verify-result to say BROKEN', async () => {
        const t = await text(tid(page, 'audit-verify-result'));
        return /BROKEN/.test(t) ? t : null;
      });
      assert.ok(res.includes(`#${seq}`), `the result names the edited entry #${seq}: "${res}"`);
      await shot(page, 'audit-broken');
    } finally {
      sql(`UPDATE audit_log SET details = (SELECT details FROM t_browser_keep WHERE seq = ${seq}) WHERE seq = ${seq}; ` +
          'DROP TABLE t_browser_keep;');
    }
    await tid(page, 'audit-verify').click();
    const again = await waitUntil('audit-verify-result to say verified again', async () => {
      const t = await text(tid(page, 'audit-verify-result'));
      return /verified/.test(t) ? t : null;
    });
    assert.ok(!again.includes('BROKEN'), `after putting the entry back: "${again}"`);
  });

  await step('sign out: back to the form, token gone', async () => {
    await tid(page, 'signout').click();
    await tid(page, 'signin-form').waitFor({ timeout: WAIT });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mlreg.token')), null, 'token removed');
  });
}

main().catch((e) => {
  process.stderr.write(`FAIL console.test.js [${current}]: ${e.stack || e}\n`);
  process.exit(1);
});
