// Browser tests of the ingress page against the real server, behind an ingress-like path prefix.

import assert from 'node:assert/strict';
import { cpSync, mkdirSync, renameSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AVAILABILITY_WINDOWS } from '../../server/src/history.js';
import {
  ARTIFACTS_DIR,
  DIST_DIR,
  cleanupStack,
  ensureBuild,
  launchBrowser,
  removeDir,
  startIngressProxy,
  startServer,
  tempDir,
  waitFor,
} from './harness.mjs';
import { HOURS, seedHistory } from './seed.mjs';

/** The database card shows the size in the binary unit that keeps the figure at 1 or more, one decimal. */
async function assertSizeFits(page, bytes) {
  const text = await page.locator('[data-check="database"] .facts dd').first().textContent();
  const m = /^(\d+(?:\.\d)?) (B|KiB|MiB|GiB)$/.exec(text);
  assert.ok(m, `database size "${text}"`);
  const unit = 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(m[2]);
  assert.ok(Number(m[1]) >= 1 && Number(m[1]) < 1024, `"${text}" is not in the fitting unit`);
  // The size moves a little with every stored sample; a page draws the figure it last received.
  assert.ok(Math.abs(Number(m[1]) * unit - bytes) / bytes < 0.05, `"${text}" for ${bytes} bytes`);
}

describe('ingress status page', { timeout: 180_000 }, () => {
  let server, proxy, browser, context, page, workDir, frontendDir, dataDir;
  const cleanups = cleanupStack();

  const pageErrors = [];
  /** The start time of the server the page shows, as the server sent it. */
  const startedShown = () => page.locator('[data-metric="uptime"] time').getAttribute('datetime');

  const api = async (path) => {
    const res = await fetch(`${server.base}${path}`, { headers: { Authorization: `Bearer ${server.token}` } });
    assert.equal(res.status, 200, `${path} answered ${res.status}`);
    return res.json();
  };

  before(async () => {
    ensureBuild();
    workDir = tempDir('ingress');
    cleanups.add(() => removeDir(workDir));
    // The server serves a copy, so the test can break the copy's manifest.
    frontendDir = join(workDir, 'frontend');
    cpSync(DIST_DIR, frontendDir, { recursive: true });
    dataDir = join(workDir, 'data');
    mkdirSync(dataDir);
    seedHistory(dataDir);
    server = await startServer({ frontendDir, dataDir });
    cleanups.add(() => server.stop());
    proxy = await startIngressProxy(server.port);
    cleanups.add(() => proxy.close());
    browser = await launchBrowser();
    cleanups.add(() => browser.close());
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  after(() => cleanups.run());

  test('the page loads under the ingress prefix and asks for the token standalone', async () => {
    const res = await page.goto(proxy.url);
    assert.equal(res.status(), 200);
    await page.locator('#login').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#dashboard').isVisible(), false);
    assert.match(await page.locator('#banner').textContent(), /Sign in/);
    // The server is up and only wants a token: the indicator says so, not "Offline".
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'signin');
    assert.equal((await page.locator('#live').textContent()).trim(), 'Sign in');
    // Every request of the page (HTML, assets, API) went through the prefix.
    assert.ok(proxy.requests.length >= 3, `only ${proxy.requests.length} requests`);
    for (const url of proxy.requests) assert.ok(url.startsWith(`${proxy.prefix}/`), `${url} left the prefix`);
    assert.ok(proxy.requests.some((u) => u.startsWith(`${proxy.prefix}/assets/`) && u.endsWith('.js')));
    assert.ok(proxy.requests.includes(`${proxy.prefix}/api/v1/status`));
  });

  test('accepting the token shows the dashboard with the real check values', async () => {
    await page.locator('#token-input').fill(server.token);
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#login').isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hasync.token')), server.token);

    await waitFor('the banner to show ok', async () => (await page.locator('#banner').getAttribute('data-status')) === 'ok');
    const status = await api('/api/v1/status');
    assert.equal(status.status, 'ok');
    const names = await page.locator('#checks [data-check]').evaluateAll((els) => els.map((e) => e.dataset.check));
    assert.deepEqual(names, status.checks.map((c) => c.name));
    assert.deepEqual(names, ['node', 'bcrypt', 'better-sqlite3', 'database', 'frontend']);

    // Messages can change between checks (timings), so compare against a fresh document until they agree.
    await waitFor('check cards to match /api/v1/status', async () => {
      const doc = await api('/api/v1/status');
      for (const check of doc.checks) {
        const card = page.locator(`#checks [data-check="${check.name}"]`);
        if ((await card.getAttribute('data-ok')) !== String(check.ok)) return false;
        if ((await card.locator('.message').textContent()) !== check.message) return false;
      }
      return true;
    });
    const node = page.locator('[data-check="node"]');
    assert.match(await node.textContent(), new RegExp(`v${status.node.version.replaceAll('.', '\\.')}`));
    assert.equal(status.node.version, process.versions.node, 'the server runs on the Node that runs the test');
    assert.match(await page.locator('[data-check="frontend"] .message').textContent(), new RegExp(status.frontend.build_id));
    assert.equal(await page.locator('[data-metric="version"] .value').textContent(), status.server.version);
    await waitFor('the stream to be live', async () => (await page.locator('#live').getAttribute('data-state')) === 'live');
  });

  test('the memory and CPU charts draw the 24 h history', async () => {
    // The server stores a sample every 10 s, so compare the charts with the very response the page drew
    // (a reload in the same tab keeps the token in sessionStorage).
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${proxy.url}api/v1/history?window=24h`),
      page.reload(),
    ]);
    assert.equal(response.status(), 200);
    const history = await response.json();
    const measured = (key) => history.points.filter((p) => p[key] !== null).length;
    assert.ok(measured('rss_bytes') >= 2 && measured('cpu_percent') >= 2, `history has ${history.points.length} points`);

    for (const id of ['#chart-memory', '#chart-cpu']) {
      const svg = page.locator(`${id} svg.chart`);
      await svg.waitFor();
      const points = await svg.locator('polyline').evaluateAll((ls) => ls.map((l) => l.getAttribute('points').split(' ').length));
      assert.ok(points.length >= 1 && Math.max(...points) >= 2, `${id}: polylines with ${points} points`);
      assert.ok((await svg.locator('text.tick').count()) >= 7, `${id}: axis labels`);
    }
    const cpuPoints = Number(await page.locator('#chart-cpu svg').getAttribute('data-points'));
    assert.equal(cpuPoints, measured('cpu_percent'));
    const memoryPoints = Number(await page.locator('#chart-memory svg').getAttribute('data-points'));
    assert.equal(memoryPoints, measured('memory_bytes') + measured('rss_bytes'));
    // The seeded 15-minute outage splits the line; the seeded error stretch is marked on the axis.
    assert.ok((await page.locator('#chart-cpu polyline').count()) >= 2, 'the outage gap splits the CPU line');
    assert.ok((await page.locator('#chart-cpu rect.status-bar.error').count()) >= 1, 'error stretch marked');
    assert.match(await page.locator('#chart-cpu .legend').textContent(), /Error/);

    // Availability moves a little with every stored sample; the seeded outage and errors put it near
    // 98.6 %. Shown as Home Assistant shows it: one decimal, no space before the %.
    const status = await api('/api/v1/status');
    for (const [metric, value] of [
      ['availability-24h', status.history.availability_24h_percent],
      ['availability-7d', status.history.availability_7d_percent],
    ]) {
      const text = await page.locator(`[data-metric="${metric}"] .value`).textContent();
      const shown = Number(/^(\d+\.\d)%$/.exec(text)?.[1]);
      assert.ok(Math.abs(shown - value) < 0.1 && value > 97 && value < 100, `${metric}: page ${text}, server ${value}`);
    }
    // The 24 h window is full; the 7 d figure says it covers only the seeded hours.
    assert.equal(await page.locator('[data-metric="availability-24h"] .sub').count(), 0);
    assert.match(await page.locator('[data-metric="availability-7d"] .sub').textContent(), new RegExp(`^over the first ${HOURS}(\\.\\d)? h$`));
    for (const metric of ['memory', 'cpu', 'event-loop']) {
      const text = await page.locator(`[data-metric="${metric}"] .value`).textContent();
      assert.match(text, /^\d+\.\d (KiB|MiB|GiB|ms)$|^\d+\.\d%$/, `${metric}: ${text}`);
    }
    await assertSizeFits(page, (await api('/api/v1/status')).database.size_bytes);
    await waitFor('the stream to be live', async () => (await page.locator('#live').getAttribute('data-state')) === 'live');
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'ingress-page.png'), fullPage: true, animations: 'disabled' });
  });

  test("the errors card shows the server's counts and its last message", async () => {
    const { errors } = await api('/api/v1/status');
    assert.deepEqual(
      { count: errors.count_24h, fatal: errors.fatal_24h, http5xx: errors.http_5xx_24h },
      { count: 3, fatal: 0, http5xx: 1 },
      'the seeded windows of the last 24 h',
    );
    const card = page.locator('#errors');
    assert.equal(await card.getAttribute('data-state'), 'errors');
    for (const [metric, value] of [['errors-24h', 3], ['fatal-24h', 0], ['http-5xx-24h', 1]]) {
      assert.equal(await card.locator(`[data-metric="${metric}"]`).textContent(), String(value), metric);
    }
    assert.equal(await card.locator('.error-text').textContent(), 'sample not stored: database or disk is full');
    assert.equal(await card.locator('time').getAttribute('datetime'), errors.last_at);
  });

  test('a pushed status change updates the banner without a reload', async () => {
    await page.evaluate(() => (window.__sameDocument = true));
    const manifest = join(frontendDir, 'hasync-build.json');
    renameSync(manifest, `${manifest}.moved`);
    try {
      await waitFor('the banner to turn degraded', async () => (await page.locator('#banner').getAttribute('data-status')) === 'degraded', 15_000);
      assert.match(await page.locator('#banner').textContent(), /Degraded: Frontend build failing/);
      assert.equal(await page.locator('[data-check="frontend"]').getAttribute('data-ok'), 'false');
      await page.screenshot({ path: join(ARTIFACTS_DIR, 'ingress-page-degraded.png'), animations: 'disabled' });
    } finally {
      renameSync(`${manifest}.moved`, manifest);
    }
    await waitFor('the banner to return to ok', async () => (await page.locator('#banner').getAttribute('data-status')) === 'ok', 15_000);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  });

  test('a phone in dark mode gets a single-column page without horizontal scrolling', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true });
    try {
      await phone.addInitScript((t) => sessionStorage.setItem('hasync.token', t), server.token);
      const p = await phone.newPage();
      await p.goto(proxy.url);
      await p.locator('#chart-cpu svg.chart').waitFor();
      const { scrollWidth, innerWidth, bg } = await p.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        bg: getComputedStyle(document.body).backgroundColor,
      }));
      assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth}px wide in a ${innerWidth}px viewport`);
      assert.equal(bg, 'rgb(17, 17, 17)', 'dark background');
      await p.screenshot({ path: join(ARTIFACTS_DIR, 'ingress-page-phone-dark.png'), fullPage: true, animations: 'disabled' });
    } finally {
      await phone.close();
    }
  });

  test('a rejected token is cleared and the prompt shows again', async () => {
    const p = await context.newPage();
    try {
      await p.addInitScript(() => {
        if (!sessionStorage.getItem('seeded')) {
          sessionStorage.setItem('seeded', '1');
          sessionStorage.setItem('hasync.token', 'not-the-token');
        }
      });
      await p.goto(proxy.url);
      await p.locator('#login').waitFor({ state: 'visible' });
      assert.match(await p.locator('#login-error').textContent(), /rejected/);
      assert.equal(await p.evaluate(() => sessionStorage.getItem('hasync.token')), null);
    } finally {
      await p.close();
    }
  });

  test('the server killed with the page open: within 5 s every figure is marked last known, and it all returns with the server', async () => {
    const banner = page.locator('#banner');
    await waitFor('the stream to be live', async () => (await page.locator('#live').getAttribute('data-state')) === 'live');
    assert.equal((await banner.textContent()).trim(), 'All checks pass');
    const { token } = server;
    const killedAt = Date.now();
    await server.kill();
    await waitFor('the banner to leave "All checks pass"', async () => (await banner.getAttribute('data-status')) !== 'ok', 5_000, 50);
    const leftMs = Date.now() - killedAt;
    assert.ok(leftMs <= 5_000, `the banner changed ${leftMs} ms after the kill`);
    assert.equal(await banner.getAttribute('data-status'), 'unreachable');
    assert.match(await banner.textContent(), /^Cannot reach the HAsync server\. The figures below are the last known, from .+\. Retrying…$/);
    assert.equal(await page.locator('#dashboard').getAttribute('data-stale'), 'true');

    // Every figure (5 check cards, 8 tiles, the errors card, 2 charts) says it is the last known one, with its age.
    const ages = () => page.locator('#dashboard .age').evaluateAll((els) => els.map((e) => ({ shown: e.checkVisibility(), text: e.textContent })));
    assert.equal(await page.locator('#checks .check .age').count(), 5);
    assert.equal(await page.locator('#metrics .tile .age').count(), 8);
    assert.equal(await page.locator('#charts .age').count(), 2);
    assert.equal(await page.locator('#errors .age').count(), 1);
    await waitFor('every figure to show its age', async () => (await ages()).every((a) => a.shown && /^Last known · \d+ s ago$/.test(a.text)), 3_000);
    const uptime = await page.locator('[data-metric="uptime"] .value').textContent();
    await waitFor('the ages to grow', async () => (await ages()).every((a) => Number(/(\d+) s ago/.exec(a.text)?.[1]) >= 2), 5_000);
    assert.equal(await page.locator('[data-metric="uptime"] .value').textContent(), uptime, 'the uptime of an unreachable server stops counting');
    assert.equal((await page.locator('#live').textContent()).trim(), 'Reconnecting…');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'ingress-page-unreachable.png'), fullPage: true, animations: 'disabled' });

    // Back on the same port and data dir (the stored token stays valid): the page follows by itself.
    server = { ...(await startServer({ frontendDir, dataDir, port: server.port, expectToken: false, logName: 'server-after-kill' })), token };
    const upAt = Date.now();
    await waitFor('the banner to return to ok', async () => (await banner.getAttribute('data-status')) === 'ok', 10_000, 50);
    console.log(`# banner left ok ${leftMs} ms after the kill; back ${Date.now() - upAt} ms after the server answered again`);
    assert.equal((await banner.textContent()).trim(), 'All checks pass');
    assert.equal(await startedShown(), (await api('/api/v1/status')).server.started_at, 'the new server is shown');
    assert.equal(await page.locator('#dashboard').getAttribute('data-stale'), null);
    assert.ok((await ages()).every((a) => !a.shown), 'no figure is marked last known any more');
    await waitFor('the stream to be live', async () => (await page.locator('#live').getAttribute('data-state')) === 'live');
  });

  test('the live stream reconnects after the server restarts', async () => {
    const live = page.locator('#live');
    assert.equal(await live.getAttribute('data-state'), 'live');
    const { token } = server;
    await server.stop();
    await waitFor('the indicator to leave live', async () => (await live.getAttribute('data-state')) !== 'live', 10_000);
    // Same port and data dir: the stored token stays valid, and the server prints none.
    server = { ...(await startServer({ frontendDir, dataDir, port: server.port, expectToken: false, logName: 'server-restarted' })), token };
    const { started_at: started } = (await api('/api/v1/status')).server;
    await waitFor('the indicator to be live again', async () => (await live.getAttribute('data-state')) === 'live', 30_000);
    // The start time to the millisecond: two servers can start within the same displayed second.
    await waitFor(`the restarted server (started ${started}) to be shown`, async () => (await startedShown()) === started, 5_000);
    assert.equal(await page.locator('#banner').getAttribute('data-status'), 'ok');
    assert.deepEqual(pageErrors, []);
  });
});

describe('under Supervisor, through the trusted ingress proxy', { timeout: 120_000 }, () => {
  let proxy, browser;
  const discoveries = [];
  const cleanups = cleanupStack();

  before(async () => {
    ensureBuild();
    const workDir = tempDir('supervisor');
    cleanups.add(() => removeDir(workDir));
    // A stand-in for the Supervisor's discovery endpoint, so the server announces its token locally.
    const supervisor = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        discoveries.push({ url: req.url, body: JSON.parse(body) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"ok","data":{"uuid":"test"}}');
      });
    });
    await new Promise((resolve) => supervisor.listen(0, '127.0.0.1', resolve));
    cleanups.add(() => new Promise((resolve) => supervisor.close(resolve)));
    const server = await startServer({
      frontendDir: DIST_DIR,
      dataDir: workDir,
      expectToken: false,
      logName: 'server-supervisor',
      env: {
        SUPERVISOR_TOKEN: 'supervisor-token-for-tests',
        HASYNC_SUPERVISOR_URL: `http://127.0.0.1:${supervisor.address().port}`,
        HASYNC_INGRESS_PROXY: '127.0.0.1', // the test's ingress proxy connects from here
      },
    });
    cleanups.add(() => server.stop());
    proxy = await startIngressProxy(server.port);
    cleanups.add(() => proxy.close());
    browser = await launchBrowser();
    cleanups.add(() => browser.close());
  });

  after(() => cleanups.run());

  test('the page shows the dashboard without asking for a token', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const authHeaders = [];
      page.on('request', (req) => req.headers().authorization && authHeaders.push(req.url()));
      await page.goto(proxy.url);
      await page.locator('#dashboard').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#login').isVisible(), false);
      await waitFor('the stream to be live', async () => (await page.locator('#live').getAttribute('data-state')) === 'live');
      await page.locator('#chart-memory svg.chart').waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.getItem('hasync.token')), null);
      assert.deepEqual(authHeaders, [], 'no request carried a token');
      // A fresh server has no availability yet: each tile says from how many hours of samples it shows
      // one (the server's rule) and how far it is.
      for (const [window, label] of [['24h', '1 h'], ['7d', '24 h']]) {
        assert.equal(AVAILABILITY_WINDOWS[window].minCoveredMs / 3_600_000, Number.parseInt(label, 10));
        const tile = page.locator(`[data-metric="availability-${window}"]`);
        assert.equal(await tile.locator('.value').textContent(), '—');
        assert.match(await tile.locator('.sub').textContent(), new RegExp(`^shown after ${label} of samples \\(\\d+ (s|min \\d+ s) so far\\)$`));
      }
      // A fresh database is a few dozen KiB: shown in KiB, never as "0 MiB".
      const size = await page.locator('[data-check="database"] .facts dd').first().textContent();
      assert.match(size, /^\d+\.\d KiB$/);
      assert.equal(discoveries.length, 1, 'the server announced itself to the stand-in Supervisor');
    } finally {
      await context.close();
    }
  });
});
