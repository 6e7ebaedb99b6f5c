/**
 * Events: filters (time range, tenant, actor, action, outcome, target, free text), newest first,
 * cursor paging, every filter in the URL query so a link reproduces the view, and export of the
 * current filter as CSV or NDJSON (streamed by the receiver, downloaded with the token in a header).
 */
import { apiFetch, apiJson, type EventPage, type EventRecord } from '../api.ts';
import { h, notice, replace } from '../dom.ts';
import type { PageContext } from '../main.ts';

/** URL query keys of the Events page, in form order. */
const KEYS = ['tenant', 'from', 'to', 'actor', 'action', 'outcome', 'target', 'text', 'limit', 'cursor'] as const;
type Key = (typeof KEYS)[number];
type Filters = Partial<Record<Key, string>>;

function readFilters(ctx: PageContext): Filters {
  const q = new URLSearchParams(location.search);
  const f: Filters = {};
  for (const k of KEYS) {
    const v = q.get(k);
    if (v !== null && v !== '') f[k] = v;
  }
  if (ctx.session.boundTenantId) f.tenant = ctx.session.boundTenantId;
  else if (!f.tenant && ctx.session.tenants.length > 0) f.tenant = ctx.session.tenants[0];
  return f;
}

/** The console URL of a filter. */
export function eventsUrl(f: Filters): string {
  const q = new URLSearchParams();
  for (const k of KEYS) if (f[k]) q.set(k, f[k]!);
  const s = q.toString();
  return `/ui/events${s ? `?${s}` : ''}`;
}

/** The API query (`GET /v1/audit/events` names) of a filter. */
function apiQuery(f: Filters, withPaging: boolean): URLSearchParams {
  const q = new URLSearchParams();
  const map: Record<string, string> = {
    tenant: 'tenant',
    from: 'since',
    to: 'until',
    actor: 'actor',
    action: 'action',
    outcome: 'outcome',
    target: 'target',
    text: 'text',
  };
  for (const [k, api] of Object.entries(map)) if (f[k as Key]) q.set(api, f[k as Key]!);
  if (withPaging) {
    q.set('limit', f.limit ?? '50');
    if (f.cursor) q.set('cursor', f.cursor);
  }
  return q;
}

/** `2026-12-07T08:00:00Z` → `2026-12-07T08:00:00` for a datetime-local input (UTC). */
function toLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)/.exec(iso);
  return m ? m[1]! : '';
}

/** A datetime-local value (read as UTC) → RFC 3339. */
function fromLocalInput(v: string): string | undefined {
  if (!v) return undefined;
  return `${v.length === 16 ? `${v}:00` : v}Z`;
}

function outcomeBadge(outcome: string): HTMLElement {
  return h('span', { class: `badge badge-${outcome}` }, outcome);
}

/** `2026-11-22T10:00:01.500Z` → `2026-11-22 10:00:01.500`. */
export function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '');
}

function row(r: EventRecord): HTMLTableRowElement {
  const e = r.event;
  const targets = (e.targets ?? []).map((t) => `${t.type}:${t.id}`).join(', ');
  return h(
    'tr',
    {},
    h(
      'td',
      { class: 'nowrap mono' },
      h(
        'a',
        {
          href: `/ui/events/${encodeURIComponent(e.eventId)}`,
          'aria-label': `Event ${e.action} at ${formatTime(e.occurredAt)} by ${e.actor.id}`,
        },
        formatTime(e.occurredAt),
      ),
    ),
    h('td', {}, e.action),
    h('td', {}, outcomeBadge(e.outcome)),
    h('td', {}, h('span', { title: e.actor.type }, e.actor.name ? `${e.actor.name} (${e.actor.id})` : e.actor.id)),
    h('td', { class: 'truncate', title: targets }, targets),
    h('td', { class: 'truncate', title: e.reason ?? '' }, e.reason ?? ''),
    h('td', {}, e.tenant.id),
    h('td', { class: 'num' }, String(r.seq)),
  );
}

/** Render the Events page into `main`. */
export async function renderEvents(main: HTMLElement, ctx: PageContext): Promise<void> {
  const f = readFilters(ctx);
  // Normalize the URL (defaults filled in) so the address bar always reproduces the view.
  ctx.replaceUrl(eventsUrl(f));
  const stack: string[] = Array.isArray((history.state as { cursors?: unknown } | null)?.cursors)
    ? (history.state as { cursors: string[] }).cursors
    : [];

  const input = (name: Key, label: string, attrs: Record<string, string> = {}) => {
    const id = `f-${name}`;
    return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, name, value: f[name] ?? '', ...attrs }));
  };
  const tenantField = ctx.session.boundTenantId
    ? h(
        'div',
        { class: 'field' },
        h('label', { for: 'f-tenant' }, 'Tenant'),
        h('input', {
          id: 'f-tenant',
          name: 'tenant',
          value: ctx.session.boundTenantId,
          readonly: true,
          'aria-describedby': 'tenant-bound',
        }),
        h('span', { id: 'tenant-bound', class: 'help' }, 'bound to your token'),
      )
    : h(
        'div',
        { class: 'field' },
        h('label', { for: 'f-tenant' }, 'Tenant'),
        // Free text with suggestions: tenants of other receivers writing to the same ClickHouse are not in the list.
        h('input', { id: 'f-tenant', name: 'tenant', value: f.tenant ?? '', required: true, list: 'tenant-list', autocomplete: 'off' }),
        h('datalist', { id: 'tenant-list' }, ...ctx.session.tenants.map((t) => h('option', { value: t }))),
      );
  const outcome = h(
    'div',
    { class: 'field' },
    h('label', { for: 'f-outcome' }, 'Outcome'),
    h(
      'select',
      { id: 'f-outcome', name: 'outcome' },
      ...['', 'success', 'failure', 'denied'].map((o) =>
        h('option', { value: o, selected: (f.outcome ?? '') === o }, o === '' ? 'any' : o),
      ),
    ),
  );
  const limit = h(
    'div',
    { class: 'field field-narrow' },
    h('label', { for: 'f-limit' }, 'Per page'),
    h(
      'select',
      { id: 'f-limit', name: 'limit' },
      ...['25', '50', '100', '200'].map((n) => h('option', { value: n, selected: (f.limit ?? '50') === n }, n)),
    ),
  );
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter events',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const data = new FormData(form);
        const next: Filters = {};
        for (const k of KEYS) {
          const v = String(data.get(k) ?? '').trim();
          if (v) next[k] = v;
        }
        next.from = fromLocalInput(String(data.get('from') ?? ''));
        next.to = fromLocalInput(String(data.get('to') ?? ''));
        delete next.cursor;
        // The default page size stays out of the URL.
        if (next.limit === '50') delete next.limit;
        ctx.navigate(eventsUrl(next));
      },
    },
    tenantField,
    input('from', 'From (UTC)', { type: 'datetime-local', step: '1', value: toLocalInput(f.from) }),
    input('to', 'To (UTC, exclusive)', { type: 'datetime-local', step: '1', value: toLocalInput(f.to) }),
    input('actor', 'Actor id'),
    input('action', 'Action', { placeholder: 'e.g. grant.issue' }),
    outcome,
    input('target', 'Target id'),
    input('text', 'Text in details or reason', { type: 'search' }),
    limit,
    h(
      'div',
      { class: 'field actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
      h('a', { href: eventsUrl({ tenant: ctx.session.boundTenantId ?? f.tenant }), class: 'button' }, 'Reset'),
    ),
  );

  const results = h('section', { 'aria-labelledby': 'results-title', 'aria-busy': 'true' });
  const exportStatus = h('span', { class: 'help', role: 'status', 'aria-live': 'polite' });
  const exportButton = (format: 'csv' | 'ndjson', label: string) =>
    h('button', { type: 'button', 'data-export': format, onclick: () => void exportEvents(f, format, exportStatus) }, label);
  replace(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Events'),
      h('div', { class: 'export' }, exportButton('csv', 'Export CSV'), exportButton('ndjson', 'Export NDJSON'), exportStatus),
    ),
    form,
    results,
  );
  if (!ctx.session.eventsAvailable) {
    replace(results, notice('warn', 'The ClickHouse exporter is disabled on this receiver: there are no stored events to list.'));
    return;
  }
  if (!f.tenant) {
    replace(results, notice('info', 'No tenant has sent events yet. Enter a tenant id to search.'));
    return;
  }
  let page: EventPage;
  try {
    page = await apiJson<EventPage>(`/v1/audit/events?${apiQuery(f, true)}`);
  } catch (err) {
    if ((err as { status?: number }).status === 401) throw err;
    replace(results, notice('error', `Cannot list events: ${(err as Error).message}`));
    results.setAttribute('aria-busy', 'false');
    return;
  }
  if (ctx.signal.aborted) return;
  const table = h(
    'table',
    { class: 'events' },
    h('caption', { class: 'visually-hidden' }, 'Events, newest first'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Time (UTC)', 'Action', 'Outcome', 'Actor', 'Targets', 'Reason', 'Tenant', 'Seq'].map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h('tbody', {}, ...page.events.map(row)),
  );
  const pager = h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    f.cursor ? h('a', { class: 'button', href: eventsUrl({ ...f, cursor: undefined }) }, '⇤ Newest') : null,
    stack.length > 0
      ? h(
          'a',
          {
            class: 'button',
            href: eventsUrl({ ...f, cursor: stack[stack.length - 1] || undefined }),
            'data-state': JSON.stringify({ cursors: stack.slice(0, -1) }),
          },
          '← Newer',
        )
      : null,
    page.nextCursor
      ? h(
          'a',
          {
            class: 'button',
            rel: 'next',
            href: eventsUrl({ ...f, cursor: page.nextCursor }),
            'data-state': JSON.stringify({ cursors: [...stack, f.cursor ?? ''] }),
          },
          'Older →',
        )
      : h('span', { class: 'help' }, 'End of results'),
  );
  replace(
    results,
    h('h2', { id: 'results-title', class: 'visually-hidden' }, 'Results'),
    page.events.length === 0 ? notice('info', 'No events match these filters.') : table,
    h(
      'p',
      { class: 'help', role: 'status' },
      `${page.events.length} event${page.events.length === 1 ? '' : 's'} on this page${f.cursor ? ' (older page)' : ''}.`,
    ),
    pager,
  );
  results.setAttribute('aria-busy', 'false');
}

/** Download the current filter's export: fetched with the token header, saved from a blob URL. */
async function exportEvents(f: Filters, format: 'csv' | 'ndjson', status: HTMLElement): Promise<void> {
  status.textContent = `Exporting ${format.toUpperCase()}…`;
  try {
    const q = apiQuery(f, false);
    q.set('format', format);
    const res = await apiFetch(`/v1/audit/export?${q}`);
    const blob = await res.blob();
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `otel-audit-events.${format}`;
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name, class: 'visually-hidden' }, 'download');
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status.textContent = `Exported ${name} (${blob.size} bytes).`;
  } catch (err) {
    status.textContent = `Export failed: ${(err as Error).message}`;
  }
}
