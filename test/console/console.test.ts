/**
 * The operator console in a real browser: headless Debian Chromium driven by playwright-core,
 * against a receiver process holding real events (test/console/fixture.ts). Covers filtering and
 * paging, deep links, CSV export content, in-browser proof verification passing and failing for an
 * altered event, tenant confinement with a tenant-bound token, and that no request leaves loopback.
 * Screenshots of every page go to a temp dir, and to docs/console/ with UPDATE_CONSOLE_SCREENSHOTS=1.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyProofBundle } from '../../integrity/index.ts';
import {
  ACME_EVENTS,
  ACME_TOKEN,
  ADMIN_TOKEN,
  acmeEvent,
  CHROMIUM,
  CHROMIUM_ARGS,
  type ConsoleFixture,
  ensureChromium,
  ensureConsoleBuild,
  getJson,
  startConsoleFixture,
} from './fixture.ts';

let fx: ConsoleFixture;
let browser: Browser;
let shotsDir: string;
const requests: string[] = [];
/** Script errors and console errors of every page (a CSP violation would show here). */
const pageErrors: string[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  ensureChromium();
  ensureConsoleBuild();
  fx = await startConsoleFixture();
  shotsDir = mkdtempSync(join(tmpdir(), 'otel-audit-shots-'));
  // launch() gives Chromium a fresh temporary user-data-dir (removed on close); the machine's
  // network is closed, so the background-networking flags keep Chromium from calling out.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}, 900_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await fx?.close();
  if (shotsDir) rmSync(shotsDir, { recursive: true, force: true });
}, 60_000);

/** A new browser context (own sessionStorage/localStorage) at a laptop's 1366×768, every request recorded. */
async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  contexts.push(context);
  // Generous: CI machines are shared (the load average can be many times the core count).
  context.setDefaultTimeout(60_000);
  const page = await context.newPage();
  page.on('request', (r: Request) => requests.push(r.url()));
  page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // 4xx answers the tests provoke on purpose are logged by Chromium as "Failed to load resource".
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${msg.text()}`);
  });
  return { context, page };
}

async function signIn(page: Page, token: string, path = '/ui/events'): Promise<void> {
  await page.goto(`${fx.http}${path}`);
  await page.getByLabel('Bearer token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  const file = join(shotsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  expect(readFileSync(file).length).toBeGreaterThan(5000);
  if (process.env.UPDATE_CONSOLE_SCREENSHOTS === '1') {
    const docs = new URL('../../docs/console/', import.meta.url);
    mkdirSync(docs, { recursive: true });
    copyFileSync(file, new URL(`${name}.png`, docs));
  }
}

/** Event ids of the rows of the events table, in order. */
async function rowTimes(page: Page): Promise<string[]> {
  return page.locator('table.events tbody tr td:first-child').allTextContents();
}

/** Wait until the events table shows exactly these times (a render replaces the table as a whole). */
async function waitRows(page: Page, times: string[]): Promise<void> {
  // Runs in the page (a function, not a string: the console's CSP forbids eval); this file is typed for Node.
  await page.waitForFunction((want) => {
    const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> } })
      .document;
    return JSON.stringify(Array.from(doc.querySelectorAll('table.events tbody tr td:first-child'), (td) => td.textContent)) === want;
  }, JSON.stringify(times));
}

/** acme events matching a predicate, newest first (the fixture's events are one minute apart). */
function expectedAcme(pred: (i: number) => boolean): number[] {
  return Array.from({ length: ACME_EVENTS }, (_, i) => i)
    .filter(pred)
    .reverse();
}

const timeOf = (i: number) => (acmeEvent(i).occurredAt as string).replace('T', ' ').replace(/Z$/, '');

describe('operator console in Chromium', { timeout: 240_000 }, () => {
  let admin: Page;

  it('asks for a token, then lists the newest events first and pages with the cursor', async () => {
    ({ page: admin } = await newPage());
    await admin.goto(`${fx.http}/ui/events`);
    await admin.getByRole('heading', { name: 'Sign in to the otel-audit console' }).waitFor();
    // A wrong token is refused with the receiver's reason.
    await admin.getByLabel('Bearer token').fill('not-a-token');
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await admin.getByText('The token was refused').waitFor();
    await admin.getByLabel('Bearer token').fill(ADMIN_TOKEN);
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await admin.locator('table.events tbody tr').first().waitFor();
    expect(await admin.locator('#f-tenant').inputValue()).toBe('acme');
    const page1 = await rowTimes(admin);
    expect(page1).toEqual(
      expectedAcme(() => true)
        .slice(0, 50)
        .map(timeOf),
    );
    await screenshot(admin, 'events');
    // Older → the next 50, the cursor in the URL; Newer ← back to the first page.
    await admin.getByRole('link', { name: 'Older →' }).click();
    await admin.waitForURL(/cursor=/);
    await waitRows(
      admin,
      expectedAcme(() => true)
        .slice(50, 100)
        .map(timeOf),
    );
    await admin.getByRole('link', { name: 'Older →' }).click();
    await waitRows(
      admin,
      expectedAcme(() => true)
        .slice(100)
        .map(timeOf),
    );
    expect(await rowTimes(admin)).toHaveLength(20);
    await admin.getByText('End of results').waitFor();
    await admin.getByRole('link', { name: '← Newer' }).click();
    await waitRows(
      admin,
      expectedAcme(() => true)
        .slice(50, 100)
        .map(timeOf),
    );
    expect(new URL(admin.url()).searchParams.get('cursor')).not.toBeNull();
    await admin.getByRole('link', { name: '⇤ Newest' }).click();
    await waitRows(admin, page1);
  });

  it('works from the keyboard, with visible focus and AA contrast', async () => {
    await admin.goto(`${fx.http}/ui/events`);
    await admin.locator('table.events tbody tr').first().waitFor();
    // The first Tab reaches the skip link; Enter moves to the content.
    await admin.keyboard.press('Tab');
    expect(
      await admin.evaluate(
        () => (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document.activeElement.textContent,
      ),
    ).toBe('Skip to content');
    // Fill a filter and submit with Enter, without the mouse.
    await admin.getByLabel('Actor id').focus();
    await admin.keyboard.type('carol');
    await admin.keyboard.press('Enter');
    await admin.waitForURL(/actor=carol/);
    await waitRows(
      admin,
      expectedAcme((i) => i % 3 === 2)
        .slice(0, 50)
        .map(timeOf),
    );
    // A focused control shows an outline of at least 2px.
    await admin.getByRole('button', { name: 'Apply filters' }).focus();
    await admin.keyboard.press('Shift+Tab');
    await admin.keyboard.press('Tab');
    const outline = await admin.getByRole('button', { name: 'Apply filters' }).evaluate((el) => {
      const cs = (
        globalThis as unknown as { getComputedStyle(e: unknown): { outlineStyle: string; outlineWidth: string } }
      ).getComputedStyle(el);
      return { style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
    });
    expect(outline.style).not.toBe('none');
    expect(outline.width).toBeGreaterThanOrEqual(2);
    // The first event link opens with Enter.
    await admin.locator('table.events tbody tr a').first().focus();
    await admin.keyboard.press('Enter');
    await admin.waitForURL(/\/ui\/events\/[0-9a-f-]{36}$/);
    await admin.getByRole('button', { name: 'Verify in this browser' }).waitFor();
    // WCAG 2.x contrast of text on its background (AA: 4.5:1) for the console's colour pairs.
    await admin.goto(`${fx.http}/ui/events?tenant=acme&outcome=denied`);
    await admin.locator('table.events tbody .badge').first().waitFor();
    const pairs = await admin.evaluate(() => {
      const g = globalThis as unknown as {
        document: { querySelector(s: string): unknown };
        getComputedStyle(e: unknown): { color: string; backgroundColor: string };
      };
      const pick = (sel: string, bgSel?: string) => {
        const el = g.document.querySelector(sel);
        const bg = bgSel ? g.document.querySelector(bgSel) : el;
        return { sel, color: g.getComputedStyle(el).color, background: g.getComputedStyle(bg).backgroundColor };
      };
      return [
        pick('.badge-denied'),
        pick('button.primary'),
        pick('.help', '.card, body'),
        pick('table.events a', 'table.events'),
        pick('.topbar nav a', '.topbar'),
        pick('label', '.filters'),
      ];
    });
    const lum = (rgb: string) => {
      const [r, gg, b] = rgb
        .match(/\d+(\.\d+)?/g)!
        .slice(0, 3)
        .map(Number)
        .map((v) => v / 255)
        .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r! + 0.7152 * gg! + 0.0722 * b!;
    };
    for (const p of pairs) {
      const bg = p.background === 'rgba(0, 0, 0, 0)' ? 'rgb(255, 255, 255)' : p.background;
      const [hi, lo] = [lum(p.color), lum(bg)].sort((a, b) => b - a);
      expect((hi! + 0.05) / (lo! + 0.05), `${p.sel}: ${p.color} on ${bg}`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it('filters by actor, outcome and time range, and reflects every filter in the URL', async () => {
    await admin.goto(`${fx.http}/ui/events`);
    await admin.getByLabel('Actor id').fill('alice');
    await admin.getByLabel('Outcome').selectOption('denied');
    await admin.getByLabel('From (UTC)').fill('2026-12-01T10:30:00');
    await admin.getByLabel('To (UTC, exclusive)').fill('2026-12-01T11:30:00');
    await admin.getByRole('button', { name: 'Apply filters' }).click();
    await admin.waitForURL(/actor=alice/);
    const url = new URL(admin.url());
    expect(Object.fromEntries(url.searchParams)).toEqual({
      tenant: 'acme',
      actor: 'alice',
      outcome: 'denied',
      from: '2026-12-01T10:30:00Z',
      to: '2026-12-01T11:30:00Z',
    });
    const want = expectedAcme((i) => i % 3 === 0 && i % 5 === 0 && i >= 30 && i < 90);
    expect(want.length).toBeGreaterThan(1);
    await waitRows(admin, want.map(timeOf));
    expect(await admin.locator('table.events tbody .badge').allTextContents()).toEqual(want.map(() => 'denied'));
  });

  it('reproduces a view from a deep link, including free text in details', async () => {
    await admin.goto(`${fx.http}/ui/events?tenant=acme&action=doc.delete&target=d-2`);
    const want = expectedAcme((i) => i % 4 === 2 && i % 10 === 2);
    await waitRows(admin, want.map(timeOf));
    expect(await admin.getByLabel('Action').inputValue()).toBe('doc.delete');
    expect(await admin.getByLabel('Target id').inputValue()).toBe('d-2');
    await admin.goto(`${fx.http}/ui/events?tenant=acme&text=NEEDLE`);
    await waitRows(admin, [timeOf(42)]);
  });

  it('exports the current filter as CSV with the same rows', async () => {
    await admin.goto(`${fx.http}/ui/events?tenant=acme&actor=bob`);
    await admin.locator('table.events tbody tr').first().waitFor();
    const [download] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('button', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^otel-audit-acme-.*\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8');
    const lines = csv.trimEnd().split('\r\n');
    const header = lines[0]!.split(',');
    expect(header.slice(0, 7)).toEqual(['occurredAt', 'eventId', 'tenantId', 'action', 'outcome', 'actorType', 'actorId']);
    const want = expectedAcme((i) => i % 3 === 1);
    expect(lines.length - 1).toBe(want.length);
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows.map((r) => r[0])).toEqual(want.map((i) => acmeEvent(i).occurredAt));
    expect(new Set(rows.map((r) => r[6]))).toEqual(new Set(['bob']));
    expect(new Set(rows.map((r) => r[2]))).toEqual(new Set(['acme']));
    // The same ids as the API's listing of that filter, and the details JSON quoted per RFC 4180.
    const api = await getJson<{ events: Array<{ event: { eventId: string } }> }>(
      fx.http,
      '/v1/audit/events?tenant=acme&actor=bob&limit=1000',
    );
    expect(rows.map((r) => r[1])).toEqual(api.events.map((e) => e.event.eventId));
    expect(csv).toContain('"{""n"":118,""note"":""routine""}"');
  });

  it('shows every field of an event and verifies its proof in the browser with the receiver key, flagged', async () => {
    const id = fx.acmeIds[42]!;
    await admin.goto(`${fx.http}/ui/events/${id}`);
    await admin.getByRole('heading', { name: /doc\.delete/ }).waitFor();
    const text = await admin.locator('main').innerText();
    for (const s of [
      id,
      'acme/rcv-ui',
      'req-42',
      '10.0.0.7',
      'console-test/1.0',
      '4bf92f3577b34da6a3ce929d0e0e1042',
      '00f067aa0ba91042',
      'the needle is here',
      'Previous: seq 42',
      'Next: seq 44',
    ])
      expect(text).toContain(s);
    await admin.getByRole('button', { name: 'Verify in this browser' }).click();
    const result = admin.locator('.verify-result');
    await result.getByText('Verified', { exact: true }).waitFor();
    const out = await result.innerText();
    expect(out).toContain('otel-audit/rcv-ui/acme');
    expect(out).toContain(`Tree size\n${ACME_EVENTS}`);
    expect(out).toContain('Receiver’s key — proves consistency, not authenticity');
    await screenshot(admin, 'event-verified');
    // The bundle downloads as JSON, and the Node verifier (otel-audit verify-proof) accepts it with the key.
    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.getByRole('button', { name: 'Download proof bundle' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`proof-${id}.json`);
    const bundle = JSON.parse(readFileSync((await download.path())!, 'utf8')) as unknown;
    expect(verifyProofBundle(bundle, [fx.verifierKey])).toMatchObject({ ok: true, seq: 43, treeSize: ACME_EVENTS, eventId: id });
    // The neighbour link leads to seq 44.
    await admin.getByRole('link', { name: 'Next: seq 44' }).click();
    await admin.waitForURL(new RegExp(fx.acmeIds[43]!));
  });

  it('verifies with a pinned key, and fails for an altered event or a key that did not sign', async () => {
    await admin.goto(`${fx.http}/ui/integrity`);
    await admin.getByLabel('Trusted verifier keys (one per line)').fill(fx.verifierKey);
    await admin.getByRole('button', { name: 'Save keys' }).click();
    await admin.getByText('Pinned 1 key in this browser.').waitFor();
    const id = fx.acmeIds[7]!;
    await admin.goto(`${fx.http}/ui/events/${id}`);
    await admin.getByRole('button', { name: 'Verify in this browser' }).click();
    await admin.locator('.verify-result').getByText('Verified', { exact: true }).waitFor();
    expect(await admin.locator('.verify-result').innerText()).not.toContain('consistency, not authenticity');

    // The store answers a proof whose event was altered (as an edited ClickHouse row would give).
    await admin.route('**/v1/audit/events/*/proof', async (route) => {
      const res = await route.fetch();
      const bundle = (await res.json()) as { event: { details: Record<string, unknown> } };
      bundle.event.details.note = 'edited afterwards';
      await route.fulfill({ response: res, json: bundle });
    });
    await admin.getByRole('button', { name: 'Verify in this browser' }).click();
    await admin.locator('.verify-result').getByText('Not verified').waitFor();
    const failed = await admin.locator('.verify-result').innerText();
    expect(failed).toContain('event-modified');
    await screenshot(admin, 'event-not-verified');
    await admin.unroute('**/v1/audit/events/*/proof');

    // A pinned key that did not sign the checkpoint: unknown-key, even though the receiver's key would pass.
    await admin.goto(`${fx.http}/ui/integrity`);
    await admin
      .getByLabel('Trusted verifier keys (one per line)')
      .fill('otel-audit/other+45934fd6+AYXOxrRgMy3ojILch2EZS6js17JNGRD4PgTgEnS+scEN');
    await admin.getByRole('button', { name: 'Save keys' }).click();
    await admin.getByText(/Not saved: .*does not match/).waitFor();
    await admin
      .getByLabel('Trusted verifier keys (one per line)')
      .fill('otel-audit/receiver-1+45934fd6+AYXOxrRgMy3ojILch2EZS6js17JNGRD4PgTgEnS+scEN');
    await admin.getByRole('button', { name: 'Save keys' }).click();
    await admin.getByText('Pinned 1 key in this browser.').waitFor();
    await admin.goto(`${fx.http}/ui/events/${id}`);
    await admin.getByRole('button', { name: 'Verify in this browser' }).click();
    await admin.locator('.verify-result').getByText('Not verified').waitFor();
    expect(await admin.locator('.verify-result').innerText()).toContain('unknown-key');
  });

  it('lists chains with their signed checkpoints and verifies a seq range with progress', async () => {
    await admin.goto(`${fx.http}/ui/integrity`);
    await admin.getByLabel('Trusted verifier keys (one per line)').fill(fx.verifierKey);
    await admin.getByRole('button', { name: 'Save keys' }).click();
    const chains = admin.locator('table.chains tbody tr');
    await chains.first().waitFor();
    expect(await chains.count()).toBe(2);
    expect(await chains.first().innerText()).toContain('acme/rcv-ui');
    await admin.getByLabel('From seq').fill('10');
    await admin.getByLabel('To seq').fill('60');
    await admin.getByRole('button', { name: 'Run verification' }).click();
    await admin.getByText('Intact', { exact: true }).waitFor();
    expect(
      await admin
        .locator('#v-progress')
        .evaluate((p) => (p as unknown as { value: number; max: number }).value === (p as unknown as { max: number }).max),
    ).toBe(true);
    expect(await admin.locator('main').innerText()).toContain('1/1 checkpoints verified');
    await screenshot(admin, 'integrity');
  });

  it('shows lag over time, WAL, back-pressure and dead letters with their reasons', async () => {
    await admin.goto(`${fx.http}/ui/status`);
    await admin.locator('svg.chart polyline[data-exporter="clickhouse"]').waitFor();
    const text = await admin.locator('main').innerText();
    expect(text).toContain('Back-pressure');
    expect(text).toContain('Not active');
    expect(text).toContain('WAL and backlog');
    expect(text).toContain('Dead letters (1 stored)');
    expect(text).toMatch(/AUDIT_ERR_INVALID_EVENT/);
    await screenshot(admin, 'status', true);
  });

  it('confines a tenant-bound token to its tenant in every view, export and proof', async () => {
    const { page } = await newPage();
    await signIn(page, ACME_TOKEN, '/ui/events?tenant=globex');
    await page.locator('table.events tbody tr').first().waitFor();
    // The bound tenant replaces the one asked for, and the field is read-only.
    expect(await page.locator('#f-tenant').inputValue()).toBe('acme');
    expect(await page.locator('#f-tenant').getAttribute('readonly')).not.toBeNull();
    expect(new URL(page.url()).searchParams.get('tenant')).toBe('acme');
    expect(new Set(await page.locator('table.events tbody tr td:nth-child(7)').allTextContents())).toEqual(new Set(['acme']));
    // Another tenant's event page, proof, export and chain are refused.
    await page.goto(`${fx.http}/ui/events/${fx.globexIds[0]}`);
    await page.getByText(/is not stored/).waitFor();
    const answers = await page.evaluate(
      async ({ token, globexId }) => {
        const get = async (path: string) => (await fetch(path, { headers: { authorization: `Bearer ${token}` } })).status;
        return {
          proof: await get(`/v1/audit/events/${globexId}/proof`),
          export: await get('/v1/audit/export?tenant=globex&format=ndjson'),
          list: await get('/v1/audit/events?tenant=globex'),
          verify: await get('/v1/audit/console/verify?chain=globex/rcv-ui'),
        };
      },
      { token: ACME_TOKEN, globexId: fx.globexIds[0]! },
    );
    expect(answers).toEqual({ proof: 404, export: 403, list: 403, verify: 404 });
    // Its own event verifies.
    await page.goto(`${fx.http}/ui/events/${fx.acmeIds[3]}`);
    await page.getByRole('button', { name: 'Verify in this browser' }).click();
    await page.locator('.verify-result').getByText('Verified', { exact: true }).waitFor();
    // Integrity and Status list only acme's chain.
    await page.goto(`${fx.http}/ui/integrity`);
    await page.locator('table.chains tbody tr').first().waitFor();
    expect(await page.locator('table.chains tbody tr').allInnerTexts()).toEqual([expect.stringContaining('acme/rcv-ui')]);
    const status = await page.evaluate(
      async (token) =>
        (await (await fetch('/v1/audit/console/status', { headers: { authorization: `Bearer ${token}` } })).json()) as {
          status: { chains: Array<{ tenantId: string }> };
        },
      ACME_TOKEN,
    );
    expect(status.status.chains.map((c) => c.tenantId)).toEqual(['acme']);
    // The export of its own tenant works (NDJSON: one record per line).
    const ndjson = await page.evaluate(
      async (token) => (await fetch('/v1/audit/export?format=ndjson', { headers: { authorization: `Bearer ${token}` } })).text(),
      ACME_TOKEN,
    );
    const lines = ndjson
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: { tenant: { id: string } } });
    expect(lines.length).toBe(ACME_EVENTS);
    expect(new Set(lines.map((l) => l.event.tenant.id))).toEqual(new Set(['acme']));
  });

  it('fails verification of an event altered in ClickHouse (ALTER TABLE … UPDATE), on the event and the range', async () => {
    const id = fx.acmeIds[11]!;
    await fx.tamperAndRestart(id, 'mallory');
    // A new port is a new origin: a new sign-in, and no pinned key (the receiver's, flagged).
    const { page } = await newPage();
    await signIn(page, ADMIN_TOKEN, `/ui/events/${id}`);
    await page.getByRole('button', { name: 'Verify in this browser' }).waitFor();
    expect(await page.locator('main').innerText()).toContain('mallory (user)');
    await page.getByRole('button', { name: 'Verify in this browser' }).click();
    await page.locator('.verify-result').getByText('Not verified').waitFor();
    const out = await page.locator('.verify-result').innerText();
    expect(out).toContain('event-modified');
    expect(out).toContain('Receiver’s key — proves consistency, not authenticity');
    // Its neighbours still verify: the alteration is located.
    await page.getByRole('link', { name: 'Next: seq 13' }).click();
    await page.waitForURL(new RegExp(fx.acmeIds[12]!));
    await page.getByRole('button', { name: 'Verify in this browser' }).click();
    await page.locator('.verify-result').getByText('Verified', { exact: true }).waitFor();
    // The range verification names the seq.
    await page.goto(`${fx.http}/ui/integrity`);
    await page.getByLabel('From seq').fill('1');
    await page.getByRole('button', { name: 'Run verification' }).click();
    await page.getByText(/NOT intact/).waitFor();
    expect(await page.locator('.problems').innerText()).toMatch(/modified seq 12/);
  });

  it('sent the token only in headers and made no request to a non-loopback host', () => {
    expect(requests.length).toBeGreaterThan(20);
    expect(pageErrors).toEqual([]);
    const hosts = new Set(requests.map((u) => new URL(u).hostname).filter((h) => h !== ''));
    expect([...hosts].filter((h) => h !== '127.0.0.1')).toEqual([]);
    for (const u of requests) {
      expect(u).not.toContain(ADMIN_TOKEN);
      expect(u).not.toContain(ACME_TOKEN);
    }
  });
});
