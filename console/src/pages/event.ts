/**
 * One event: every field, its chain entry and neighbours, request and trace context, and Verify —
 * the event's proof bundle checked in this browser with WebCrypto against the pinned verifier key
 * (or the receiver's, flagged as proving consistency, not authenticity).
 */
import { ApiError, apiFetch, apiJson, type EventRecord } from '../api.ts';
import { code, fields, h, notice, replace } from '../dom.ts';
import { chooseKeys } from '../keys.ts';
import type { PageContext } from '../main.ts';
import { verifyProofBundleInBrowser } from '../proof-verify.ts';
import { eventsUrl, formatTime } from './events.ts';

interface EventDetail {
  record: EventRecord;
  neighbours: { prev: { seq: number; eventId: string } | null; next: { seq: number; eventId: string } | null };
  storage: {
    serviceName: string;
    eventName: string;
    severityText: string;
    resourceAttributes: Record<string, string>;
    scope: { name: string; version: string; attributes: Record<string, string> };
    logAttributes: Record<string, string>;
  };
}

function json(value: unknown): HTMLElement {
  return h('pre', { class: 'json', tabindex: '0' }, JSON.stringify(value, null, 2));
}

function attrTable(caption: string, attrs: Record<string, string>): HTMLElement | null {
  const entries = Object.entries(attrs ?? {});
  if (entries.length === 0) return null;
  return h(
    'table',
    { class: 'kv' },
    h('caption', {}, caption),
    h(
      'tbody',
      {},
      ...entries
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'mono' }, v))),
    ),
  );
}

function section(title: string, ...children: Array<Node | null>): HTMLElement {
  const id = `s-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** Render the Event page. */
export async function renderEvent(main: HTMLElement, ctx: PageContext, eventId: string): Promise<void> {
  replace(main, h('h1', {}, 'Event'), h('p', { class: 'help', role: 'status' }, 'Loading…'));
  let d: EventDetail;
  try {
    d = await apiJson<EventDetail>(`/v1/audit/events/${encodeURIComponent(eventId)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    replace(main, h('h1', {}, 'Event'), notice('error', (err as Error).message), h('p', {}, h('a', { href: '/ui/events' }, '← Events')));
    return;
  }
  if (ctx.signal.aborted) return;
  const r = d.record;
  const e = r.event;
  const back = eventsUrl({ tenant: e.tenant.id });
  const neighbour = (label: string, n: { seq: number; eventId: string } | null) =>
    n
      ? h('a', { href: `/ui/events/${n.eventId}`, rel: label === 'Previous' ? 'prev' : 'next' }, `${label}: seq ${n.seq}`)
      : h('span', { class: 'help' }, `${label}: none stored`);

  const verifyOut = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const verifyButton = h(
    'button',
    { type: 'button', class: 'primary', id: 'verify', onclick: () => void verify() },
    'Verify in this browser',
  );
  const downloadStatus = h('span', { class: 'help', role: 'status' });
  // The same bundle as `otel-audit prove`, for `otel-audit verify-proof` elsewhere (e.g. an auditor's machine).
  const downloadButton = h(
    'button',
    {
      type: 'button',
      onclick: async () => {
        try {
          const text = await (await apiFetch(`/v1/audit/events/${encodeURIComponent(e.eventId)}/proof`)).text();
          const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
          const a = h('a', { href: url, download: `proof-${e.eventId}.json`, class: 'visually-hidden' }, 'download');
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60_000);
          downloadStatus.textContent = `Saved proof-${e.eventId}.json — check it with otel-audit verify-proof.`;
        } catch (err) {
          downloadStatus.textContent = `No proof: ${(err as Error).message}`;
        }
      },
    },
    'Download proof bundle',
  );
  const keyNote = h('p', { class: 'help' });
  void chooseKeys(ctx.session).then((choice) => {
    if (choice.source === 'pinned')
      replace(
        keyNote,
        `Checked against your pinned verifier key${choice.keys.length > 1 ? 's' : ''}: `,
        ...choice.keys.map((k) => code(`${k.name}+${k.keyIdHex}`)),
        '.',
      );
    else if (choice.source === 'receiver')
      replace(
        keyNote,
        h('strong', {}, 'Receiver’s key — proves consistency, not authenticity. '),
        'Pin the key you trust on the ',
        h('a', { href: '/ui/integrity' }, 'Integrity'),
        ' page.',
      );
    else
      replace(
        keyNote,
        'No verifier key: pin one on the ',
        h('a', { href: '/ui/integrity' }, 'Integrity'),
        ' page (the receiver has integrity disabled).',
      );
  });

  async function verify(): Promise<void> {
    verifyButton.disabled = true;
    replace(verifyOut, h('p', { role: 'status' }, 'Fetching the proof and verifying…'));
    try {
      const choice = await chooseKeys(ctx.session);
      let bundle: unknown;
      try {
        bundle = await apiJson<unknown>(`/v1/audit/events/${encodeURIComponent(e.eventId)}/proof`);
      } catch (err) {
        replace(verifyOut, notice('error', h('strong', {}, 'No proof: '), (err as Error).message));
        return;
      }
      const result = await verifyProofBundleInBrowser(bundle, choice.keys);
      const flag =
        choice.source === 'receiver' ? h('p', { class: 'flag' }, 'Receiver’s key — proves consistency, not authenticity.') : null;
      if (result.ok) {
        replace(
          verifyOut,
          notice(
            'ok',
            h('strong', { class: 'verdict' }, 'Verified'),
            ` — event is entry seq ${result.seq} of chain ${result.chainId}, included in the signed checkpoint:`,
            fields([
              ['Origin', code(result.origin)],
              ['Tree size', String(result.treeSize)],
              ['Root', code(result.rootHash)],
              ['Signed by', result.signedBy.join(', ')],
              ['Key', choice.source === 'pinned' ? 'pinned in this browser' : 'the receiver’s'],
            ]),
            flag,
          ),
        );
      } else {
        replace(
          verifyOut,
          notice(
            'error',
            h('strong', { class: 'verdict' }, 'Not verified'),
            h(
              'ul',
              { class: 'problems' },
              ...result.problems.map((p) => h('li', {}, h('code', {}, p.kind), p.path ? ` (${p.path})` : '', `: ${p.message}`)),
            ),
            flag,
          ),
        );
      }
      if (choice.invalid.length > 0)
        verifyOut.append(notice('warn', `Ignored pinned key(s) that do not parse: ${choice.invalid.map((i) => i.reason).join('; ')}`));
    } finally {
      verifyButton.disabled = false;
    }
  }

  replace(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: back }, '← Events of ', e.tenant.id)),
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, e.action, ' ', h('span', { class: `badge badge-${e.outcome}` }, e.outcome)),
      h('code', { class: 'mono help' }, e.eventId),
    ),
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        { class: 'stack' },
        section(
          'Event',
          fields([
            ['Event id', code(e.eventId)],
            ['Occurred at (UTC)', formatTime(e.occurredAt)],
            ['Action', e.action],
            ['Outcome', e.outcome],
            ['Reason', e.reason],
            ['Schema version', e.schemaVersion],
            ['Tenant', e.tenant.name ? `${e.tenant.name} (${e.tenant.id})` : e.tenant.id],
            ['Actor', `${e.actor.id} (${e.actor.type})`],
            ['Actor name', e.actor.name],
            ['Authenticated by', e.actor.authMethod],
            ['On behalf of', e.actor.impersonatorId],
            ['Session', e.session?.id],
          ]),
          e.targets && e.targets.length > 0
            ? h(
                'table',
                { class: 'kv' },
                h('caption', {}, 'Targets'),
                h(
                  'thead',
                  {},
                  h('tr', {}, h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Id'), h('th', { scope: 'col' }, 'Name')),
                ),
                h(
                  'tbody',
                  {},
                  ...e.targets.map((t) => h('tr', {}, h('td', {}, t.type), h('td', { class: 'mono' }, t.id), h('td', {}, t.name ?? ''))),
                ),
              )
            : null,
          e.details ? h('div', {}, h('h3', {}, 'Details'), json(e.details)) : null,
          e.changes ? h('div', {}, h('h3', {}, 'Changes'), json(e.changes)) : null,
        ),
        section(
          'Request and trace',
          fields([
            ['Request id', e.request?.id],
            ['Client IP', e.request?.ip],
            ['Method', e.request?.method],
            ['Path', e.request?.path],
            ['User agent', e.request?.userAgent],
            ['Trace id', e.trace ? code(e.trace.traceId) : undefined],
            ['Span id', e.trace ? code(e.trace.spanId) : undefined],
            ['Trace flags', e.trace?.traceFlags !== undefined ? String(e.trace.traceFlags) : undefined],
          ]),
          !e.request && !e.trace ? h('p', { class: 'help' }, 'The producer sent no request or trace context.') : null,
        ),
        section(
          'Source',
          fields([
            ['Service', d.storage.serviceName],
            [
              'Scope',
              d.storage.scope.name ? `${d.storage.scope.name}${d.storage.scope.version ? ` ${d.storage.scope.version}` : ''}` : undefined,
            ],
          ]),
          attrTable('Resource attributes', d.storage.resourceAttributes),
          attrTable('Log attributes (not mapped to the event)', d.storage.logAttributes),
        ),
      ),
      h(
        'div',
        { class: 'stack' },
        section(
          'Verify',
          h('p', {}, 'Fetches the event’s inclusion proof and signed checkpoint and checks both here, with WebCrypto (SHA-256, Ed25519).'),
          keyNote,
          h('div', { class: 'row' }, verifyButton, downloadButton),
          downloadStatus,
          verifyOut,
        ),
        section(
          'Chain',
          fields([
            ['Chain id', code(r.chainId)],
            ['Seq', String(r.seq)],
            ['Hash', code(r.hash)],
            ['Previous hash', code(r.prevHash)],
            ['Received at (UTC)', r.receivedAt],
          ]),
          h('p', { class: 'neighbours' }, neighbour('Previous', d.neighbours.prev), ' · ', neighbour('Next', d.neighbours.next)),
        ),
      ),
    ),
  );
}
