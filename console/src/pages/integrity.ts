/**
 * Integrity: the verifier keys pinned in this browser, the chains with their heads and last signed
 * checkpoint, and a verification of a chosen seq range of a chain run by the receiver (streamed,
 * with progress) against its checkpoints.
 */
import { apiFetch, apiJson } from '../api.ts';
import { code, h, notice, replace, shortHash } from '../dom.ts';
import { pinnedKeyTexts, setPinnedKeyTexts } from '../keys.ts';
import type { PageContext } from '../main.ts';
import { parseVerifierKeyInBrowser } from '../proof-verify.ts';

interface ChainInfo {
  chainId: string;
  tenantId: string;
  head: { seq: number; hash: string };
  checkpoints: number;
  lastCheckpoint: {
    treeSize: number;
    rootHash: string;
    origin: string;
    createdAt: string;
    keyName: string;
    keyId: string;
    note: string;
  } | null;
}

function keysCard(ctx: PageContext): HTMLElement {
  const area = h(
    'textarea',
    { id: 'pinned-keys', rows: '3', spellcheck: 'false', 'aria-describedby': 'pinned-help' },
    pinnedKeyTexts().join('\n'),
  );
  const out = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const lines = area.value
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '');
        const bad: string[] = [];
        for (const l of lines) {
          const p = await parseVerifierKeyInBrowser(l);
          if (!p.ok) bad.push(`${l.slice(0, 40)}…: ${p.reason}`);
        }
        if (bad.length > 0) {
          replace(out, notice('error', 'Not saved: ', ...bad.map((b) => h('div', {}, b))));
          return;
        }
        setPinnedKeyTexts(lines);
        replace(
          out,
          notice(
            'ok',
            lines.length > 0
              ? `Pinned ${lines.length} key${lines.length > 1 ? 's' : ''} in this browser.`
              : 'No key pinned: verification uses the receiver’s key.',
          ),
        );
      },
    },
    h('label', { for: 'pinned-keys' }, 'Trusted verifier keys (one per line)'),
    area,
    h(
      'p',
      { id: 'pinned-help', class: 'help' },
      'The key string printed by ',
      code('otel-audit keys generate'),
      ' (',
      code('<name>+<key id>+<base64>'),
      '), obtained out of band. Stored in this browser (localStorage). Without one, proofs are checked with the receiver’s own key, which proves consistency, not authenticity.',
    ),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save keys')),
    out,
  );
  const receiver = ctx.session.integrity.verifierKeys;
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'keys-title' },
    h('h2', { id: 'keys-title' }, 'Verifier keys'),
    form,
    h(
      'p',
      { class: 'help' },
      'Receiver’s key: ',
      receiver.length > 0
        ? receiver.map((k) => code(k))
        : ctx.session.integrity.enabled
          ? (ctx.session.integrity.keyError ?? 'unavailable')
          : 'integrity is disabled on this receiver',
    ),
  );
}

/** Render the Integrity page. */
export async function renderIntegrity(main: HTMLElement, ctx: PageContext): Promise<void> {
  const chainsBox = h(
    'section',
    { class: 'card', 'aria-labelledby': 'chains-title', 'aria-busy': 'true' },
    h('h2', { id: 'chains-title' }, 'Chains'),
    h('p', { class: 'help' }, 'Loading…'),
  );
  const verifyBox = h('section', { class: 'card', 'aria-labelledby': 'verify-title' }, h('h2', { id: 'verify-title' }, 'Verify a range'));
  chainsBox.classList.add('wide');
  replace(main, h('h1', {}, 'Integrity'), chainsBox, h('div', { class: 'grid' }, verifyBox, keysCard(ctx)));
  const { chains } = await apiJson<{ chains: ChainInfo[] }>('/v1/audit/console/chains');
  if (ctx.signal.aborted) return;
  chainsBox.setAttribute('aria-busy', 'false');
  replace(
    chainsBox,
    h('h2', { id: 'chains-title' }, 'Chains'),
    chains.length === 0
      ? notice('info', 'No chain yet: no event was accepted.')
      : h(
          'table',
          { class: 'chains' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Chain', 'Tenant', 'Head seq', 'Head hash', 'Checkpoints', 'Signed size', 'Signed root', 'Signed at (UTC)'].map((c) =>
                h('th', { scope: 'col' }, c),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            ...chains.map((c) =>
              h(
                'tr',
                {},
                h('td', { class: 'mono' }, c.chainId),
                h('td', {}, c.tenantId),
                h('td', { class: 'num' }, String(c.head.seq)),
                h('td', {}, shortHash(c.head.hash)),
                h('td', { class: 'num' }, String(c.checkpoints)),
                h('td', { class: 'num' }, c.lastCheckpoint ? String(c.lastCheckpoint.treeSize) : '—'),
                h('td', {}, c.lastCheckpoint ? shortHash(c.lastCheckpoint.rootHash) : '—'),
                h(
                  'td',
                  { class: 'nowrap' },
                  c.lastCheckpoint ? c.lastCheckpoint.createdAt.replace('T', ' ').replace(/Z$/, '') : 'not signed yet',
                ),
              ),
            ),
          ),
        ),
  );
  if (chains.length === 0) {
    verifyBox.append(h('p', { class: 'help' }, 'Nothing to verify yet.'));
    return;
  }
  const chainSelect = h(
    'select',
    { id: 'v-chain', name: 'chain' },
    ...chains.map((c) => h('option', { value: c.chainId }, `${c.chainId} (seq 1–${c.head.seq})`)),
  );
  const from = h('input', { id: 'v-from', name: 'from', type: 'number', min: '1', value: '1', inputmode: 'numeric' });
  const to = h('input', { id: 'v-to', name: 'to', type: 'number', min: '1', value: String(chains[0]!.head.seq), inputmode: 'numeric' });
  chainSelect.addEventListener('change', () => {
    const c = chains.find((x) => x.chainId === chainSelect.value);
    if (c) to.value = String(c.head.seq);
  });
  const progress = h('progress', { id: 'v-progress', max: '1', value: '0', 'aria-label': 'Verification progress' });
  const progressText = h('span', { class: 'help', role: 'status', 'aria-live': 'polite' });
  const out = h('div', { 'aria-live': 'polite' });
  const run = h('button', { type: 'submit', class: 'primary' }, 'Run verification');
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void runVerify();
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'v-chain' }, 'Chain'), chainSelect),
    h('div', { class: 'field field-narrow' }, h('label', { for: 'v-from' }, 'From seq'), from),
    h('div', { class: 'field field-narrow' }, h('label', { for: 'v-to' }, 'To seq'), to),
    h('div', { class: 'field actions' }, run),
  );
  verifyBox.append(
    h(
      'p',
      { class: 'help' },
      'The receiver recomputes every entry hash, the links and the Merkle roots of the range from ClickHouse and checks them against the signed checkpoints, with its own keys. The range is widened to the checkpoints around it.',
    ),
    form,
    h('div', { class: 'row' }, progress, progressText),
    out,
  );

  async function runVerify(): Promise<void> {
    run.disabled = true;
    replace(out);
    progress.value = 0;
    progressText.textContent = 'Starting…';
    const q = new URLSearchParams({ chain: chainSelect.value, from: from.value, to: to.value });
    const problems: Array<{ kind: string; seq?: number; message: string }> = [];
    try {
      const res = await apiFetch(`/v1/audit/console/verify?${q}`, { signal: ctx.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let total = 1;
      let range = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          buf = buf.slice(nl + 1);
          if (msg.type === 'start') {
            total = Math.max(1, Number(msg.total));
            progress.max = total;
            range = `seq ${msg.fromSeq}–${msg.toSeq}`;
            progressText.textContent = `Verifying ${range} (${total} entries)…`;
          } else if (msg.type === 'progress') {
            progress.value = Number(msg.entries);
            progressText.textContent = `${msg.entries} of ${total} entries`;
          } else if (msg.type === 'problem') {
            problems.push(msg as unknown as { kind: string; seq?: number; message: string });
          } else if (msg.type === 'done') {
            const stats = msg.stats as {
              entries: number;
              checkpoints: number;
              checkpointsVerified: number;
              uncoveredEntries: number;
              durationMillis: number;
            };
            progress.value = progress.max;
            progressText.textContent = `Done: ${stats.entries} entries in ${(stats.durationMillis / 1000).toFixed(2)} s`;
            replace(
              out,
              msg.ok
                ? notice(
                    'ok',
                    h('strong', { class: 'verdict' }, 'Intact'),
                    ` — ${range}: ${stats.entries} entries, ${stats.checkpointsVerified}/${stats.checkpoints} checkpoints verified${stats.uncoveredEntries ? `, ${stats.uncoveredEntries} entries after the last checkpoint (hash-checked, not yet signed)` : ''}.`,
                  )
                : notice(
                    'error',
                    h('strong', { class: 'verdict' }, `NOT intact: ${problems.length} problem(s)`),
                    h(
                      'ul',
                      { class: 'problems' },
                      ...problems.map((p) =>
                        h('li', {}, h('code', {}, p.kind), p.seq !== undefined ? ` seq ${p.seq}` : '', `: ${p.message}`),
                      ),
                    ),
                  ),
            );
          } else if (msg.type === 'error') {
            replace(out, notice('error', `Verification stopped: ${String(msg.message)}`));
          }
        }
      }
    } catch (err) {
      if (!ctx.signal.aborted) replace(out, notice('error', (err as Error).message));
    } finally {
      run.disabled = false;
    }
  }
}
