/**
 * Status: exporter lag over time (an inline SVG chart of the receiver's samples), WAL and backlog,
 * back-pressure, exporters, and the newest dead letters with their reasons. Refreshes every 5 s
 * while the page is open.
 */
import { apiJson } from '../api.ts';
import { bytes, fields, h, notice, replace, svg } from '../dom.ts';
import type { PageContext } from '../main.ts';

interface Sample {
  t: number;
  backlogBytes: number;
  backpressure: boolean;
  exporters: Array<{ name: string; lagEntries: number; lagBytes: number }>;
}

interface StatusAnswer {
  now: number;
  sampleIntervalMillis: number;
  status: {
    ready: boolean;
    instanceId: string;
    durability: string;
    chains: Array<{ chainId: string; seq: number }>;
    wal: {
      firstLsn: number;
      lastLsn: number;
      segments: number;
      bytes: number;
      backlogBytes: number;
      commits: number;
      failed?: { code: string; message: string };
    };
    exporters: Array<{
      name: string;
      state: string;
      lagEntries: number;
      lagBytes: number;
      failing: boolean;
      consecutiveFailures: number;
      lastError?: { code: string; message: string; atMillis: number };
      exportedEntries: number;
      lastSuccessAtMillis?: number;
    }>;
    deadLetters: { stored: number; written: number; writeErrors: number };
    backpressure: { active: boolean; reason?: string; freeDiskBytes: number; maxBacklogBytes: number; minFreeDiskBytes: number };
    counters: { received: number; accepted: number; rejected: number; deduped: number; requests: number; retryableAnswers: number };
  };
  integrity: { enabled: boolean; checkpointsWritten: number; unresumable: string[]; lastError?: string };
  samples: Sample[];
  deadLetters: Array<{ time: string; transport: string; principal?: string; code: string; reason: string; recordIndex: number }>;
  deadLetterError?: string;
}

/** Series colours, distinguishable and ≥ 3:1 against white (WCAG 1.4.11 non-text contrast). */
const COLORS = ['#0b57d0', '#b3261e', '#146c2e', '#7d5260', '#8a4b00'];

/** An SVG line chart of every exporter's lag (entries) over the samples. */
export function lagChart(samples: Sample[]): Element {
  const W = 1240;
  const H = 200;
  const pad = { l: 56, r: 12, t: 12, b: 28 };
  const names = [...new Set(samples.flatMap((s) => s.exporters.map((e) => e.name)))];
  const t0 = samples[0]?.t ?? 0;
  const t1 = Math.max(t0 + 1, samples[samples.length - 1]?.t ?? 1);
  const maxLag = Math.max(1, ...samples.flatMap((s) => s.exporters.map((e) => e.lagEntries)));
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / maxLag) * (H - pad.t - pad.b);
  const latest = samples[samples.length - 1];
  const summary = latest
    ? names.map((n) => `${n} ${latest.exporters.find((e) => e.name === n)?.lagEntries ?? 0}`).join(', ')
    : 'no samples yet';
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': 'lag-title lag-desc' },
    svg('title', { id: 'lag-title' }, 'Exporter lag (entries) over time'),
    svg(
      'desc',
      { id: 'lag-desc' },
      `${samples.length} samples over ${Math.round((t1 - t0) / 1000)} s; latest lag: ${summary}; maximum ${maxLag}.`,
    ),
    svg('line', { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, stroke: '#5f6368' }),
    svg('line', { x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b, stroke: '#5f6368' }),
    svg('text', { x: pad.l - 6, y: pad.t + 4, 'text-anchor': 'end', class: 'axis' }, String(maxLag)),
    svg('text', { x: pad.l - 6, y: H - pad.b, 'text-anchor': 'end', class: 'axis' }, '0'),
    svg('text', { x: pad.l, y: H - 8, class: 'axis' }, new Date(t0).toISOString().slice(11, 19)),
    svg('text', { x: W - pad.r, y: H - 8, 'text-anchor': 'end', class: 'axis' }, `${new Date(t1).toISOString().slice(11, 19)} UTC`),
  );
  names.forEach((name, i) => {
    const pts = samples
      .map((s) => `${x(s.t).toFixed(1)},${y(s.exporters.find((e) => e.name === name)?.lagEntries ?? 0).toFixed(1)}`)
      .join(' ');
    chart.append(
      svg('polyline', { points: pts, fill: 'none', stroke: COLORS[i % COLORS.length]!, 'stroke-width': 2, 'data-exporter': name }),
    );
  });
  // Back-pressure periods as a band along the bottom.
  for (let i = 0; i < samples.length; i++) {
    if (!samples[i]!.backpressure) continue;
    const x0 = x(samples[i]!.t);
    const x1 = i + 1 < samples.length ? x(samples[i + 1]!.t) : x0 + 2;
    chart.append(svg('rect', { x: x0, y: H - pad.b - 4, width: Math.max(2, x1 - x0), height: 4, fill: '#b3261e' }));
  }
  const legend = h(
    'ul',
    { class: 'legend' },
    ...names.map((n, i) => h('li', {}, h('span', { class: `swatch swatch-${i % COLORS.length}`, 'aria-hidden': 'true' }), n)),
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    chart,
    h(
      'figcaption',
      {},
      legend,
      h('span', { class: 'help' }, 'Lag = WAL entries not yet acknowledged by the exporter. A red band marks back-pressure.'),
    ),
  );
}

/** Render the Status page (and keep it fresh while open). */
export async function renderStatus(main: HTMLElement, ctx: PageContext): Promise<void> {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'help' }, 'Loading…'));
  const updated = h('span', { class: 'help', 'aria-live': 'off' });
  replace(main, h('div', { class: 'page-head' }, h('h1', {}, 'Status'), updated), body);
  const refresh = async () => {
    let s: StatusAnswer;
    try {
      s = await apiJson<StatusAnswer>('/v1/audit/console/status');
    } catch (err) {
      if ((err as { status?: number }).status === 401) throw err;
      replace(body, notice('error', `Cannot read the status: ${(err as Error).message}`));
      return;
    }
    if (ctx.signal.aborted) return;
    const st = s.status;
    body.setAttribute('aria-busy', 'false');
    updated.textContent = `Updated ${new Date(s.now).toISOString().slice(11, 19)} UTC · refreshes every 5 s`;
    replace(
      body,
      h(
        'div',
        { class: 'cards' },
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'c-ingest' },
          h('h2', { id: 'c-ingest' }, 'Ingest'),
          fields([
            ['Ready', st.ready ? 'yes' : 'no (recovering or stopping)'],
            ['Instance', st.instanceId],
            ['Accepted', String(st.counters.accepted)],
            ['Rejected', String(st.counters.rejected)],
            ['Duplicates', String(st.counters.deduped)],
            ['Retryable answers', String(st.counters.retryableAnswers)],
          ]),
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'c-bp' },
          h('h2', { id: 'c-bp' }, 'Back-pressure'),
          st.backpressure.active
            ? notice('error', h('strong', {}, 'Active: '), st.backpressure.reason ?? 'ingest is answered retryable')
            : notice('ok', 'Not active'),
          fields([
            ['Free disk', bytes(st.backpressure.freeDiskBytes)],
            ['Minimum free disk', bytes(st.backpressure.minFreeDiskBytes)],
            ['Maximum backlog', bytes(st.backpressure.maxBacklogBytes)],
          ]),
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'c-wal' },
          h('h2', { id: 'c-wal' }, 'WAL and backlog'),
          fields([
            ['Backlog', `${bytes(st.wal.backlogBytes)} (behind the slowest exporter)`],
            ['WAL size', `${bytes(st.wal.bytes)} in ${st.wal.segments} segment${st.wal.segments === 1 ? '' : 's'}`],
            ['LSN range', `${st.wal.firstLsn} – ${st.wal.lastLsn}`],
            ['Durability', st.durability],
            ['WAL failure', st.wal.failed ? `${st.wal.failed.code}: ${st.wal.failed.message}` : undefined],
          ]),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'c-lag' },
        h('h2', { id: 'c-lag' }, 'Exporter lag'),
        s.samples.length > 1 ? lagChart(s.samples) : h('p', { class: 'help' }, 'Collecting samples…'),
        h(
          'table',
          { class: 'exporters' },
          h('caption', {}, 'Exporters'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Exporter', 'State', 'Lag (entries)', 'Lag (bytes)', 'Exported', 'Last error'].map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          h(
            'tbody',
            {},
            ...st.exporters.map((e) =>
              h(
                'tr',
                { class: e.failing ? 'failing' : '' },
                h('td', {}, e.name),
                h('td', {}, e.failing ? h('span', { class: 'badge badge-denied' }, `${e.state}, failing`) : e.state),
                h('td', { class: 'num' }, String(e.lagEntries)),
                h('td', { class: 'num' }, bytes(e.lagBytes)),
                h('td', { class: 'num' }, String(e.exportedEntries)),
                h(
                  'td',
                  { class: 'truncate', title: e.lastError?.message ?? '' },
                  e.lastError ? `${e.lastError.code}: ${e.lastError.message}` : '—',
                ),
              ),
            ),
          ),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'c-dl' },
        h('h2', { id: 'c-dl' }, `Dead letters (${st.deadLetters.stored} stored)`),
        s.deadLetterError ? notice('error', s.deadLetterError) : null,
        s.deadLetters.length === 0
          ? h('p', { class: 'help' }, 'No rejected records.')
          : h(
              'table',
              { class: 'dead-letters' },
              h('caption', { class: 'visually-hidden' }, 'Newest dead letters'),
              h(
                'thead',
                {},
                h('tr', {}, ...['Time (UTC)', 'Code', 'Reason', 'Transport', 'Token'].map((c) => h('th', { scope: 'col' }, c))),
              ),
              h(
                'tbody',
                {},
                ...s.deadLetters.map((d) =>
                  h(
                    'tr',
                    {},
                    h('td', { class: 'nowrap mono' }, d.time.replace('T', ' ').replace(/Z$/, '')),
                    h('td', {}, h('code', {}, d.code)),
                    h('td', {}, d.reason),
                    h('td', {}, d.transport),
                    h('td', {}, d.principal ?? '—'),
                  ),
                ),
              ),
            ),
        h('p', { class: 'help' }, 'The records themselves: ', h('code', {}, 'otel-audit dead-letters'), '.'),
      ),
      s.integrity.enabled && (s.integrity.unresumable.length > 0 || s.integrity.lastError)
        ? notice(
            'error',
            `Checkpointing problem: ${s.integrity.lastError ?? ''} ${s.integrity.unresumable.length ? `unresumable chains: ${s.integrity.unresumable.join(', ')}` : ''}`,
          )
        : null,
    );
  };
  await refresh();
  const timer = setInterval(() => {
    // Not while the tab is hidden, nor while keyboard focus is inside the content (a re-render would drop it).
    // refresh() shows its own failures on the page; this only keeps a rejection from being unhandled.
    if (document.visibilityState === 'visible' && !body.contains(document.activeElement)) void refresh().catch(() => undefined);
  }, 5000);
  ctx.signal.addEventListener('abort', () => clearInterval(timer));
}
