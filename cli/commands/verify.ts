/**
 * `otel-audit verify --source wal|clickhouse|archive [--tenant] [--chain] [--since] [--until]
 * [--public-key <key|file> …] [--json] [--data-dir] [--config]`: recompute every entry hash, check
 * seq contiguity and prev links, rebuild each chain's RFC 6962 tree and compare it with the signed
 * checkpoints read from the same store, check their signatures and consistency (RFC 9162 §2.1.4).
 * `--compare clickhouse,archive`: both stores hold the same entries for the same seq ranges.
 *
 * Exit 0 intact, 1 with every problem named (chain, seq or object, kind), 2 bad arguments.
 */
import { AuditError } from '@otel-audit/core';
import { parseCommandArgs } from '../args.ts';
import { openStoreView, STORE_LOCATION_FLAGS, type StoreLocationOptions } from '../integrity/open-store.ts';
import type { StoreSource } from '../integrity/stores.ts';
import { resolveVerifierKeys } from '../integrity/verifier-keys.ts';
import { type CompareReport, compareStores, type VerifyProblem, type VerifyStoreReport, verifyStore } from '../integrity/verify-store.ts';
import type { Command } from '../registry.ts';

export { resolveVerifierKeys };

const USAGE = `usage: otel-audit verify --source wal|clickhouse|archive [options]
       otel-audit verify --compare clickhouse,archive [options]

Recomputes every entry hash, checks seq contiguity and prev links, rebuilds each chain's Merkle tree
(RFC 6962) and checks it against the signed checkpoints stored in the same place, with their
signatures and consistency proofs. Every problem is named with its chain, seq (or object) and kind.

  --source <s>         wal | clickhouse | archive
  --compare <a,b>      compare two stores entry by entry (e.g. clickhouse,archive)
  --public-key <k>     trusted verifier key (<name>+<keyid>+<base64>) or a file of them; repeatable.
                       Default: integrity.signingKeyFile's .pub and integrity.verifierKeyFiles, else
                       <data-dir>/keys/*.pub, else the running receiver's /v1/audit/verifier-key
                       (a key found that way proves consistency, not authenticity: pin it)
  --tenant <id>        only this tenant's chains
  --chain <id>         only this chain (<tenant>/<instance>)
  --since <time>       only entries whose event time is at or after this (ISO 8601), widened to
  --until <time>       the enclosing checkpoints; before this (exclusive)
  --json               machine-readable result on stdout
  --data-dir <dir>     data directory (default ./otel-audit-data)
  --config <file>      config file (default otel-audit.yaml)
  --url <url>          ClickHouse server URL instead of the embedded engine; for the embedded store of
  --pathname <path>    a running receiver use its endpoint: --url http://127.0.0.1:4318 --pathname /clickhouse
  --user, --password   ClickHouse credentials (with --url)
  --archive <dir>      read this local archive directory instead of the configured cold store

Exit status: 0 intact, 1 problems found (listed), 2 bad arguments or configuration.
`;

function parseTime(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(d.getTime())) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--${name}: "${v}" is not an ISO 8601 date or time`);
  return d;
}

function parseSource(name: string, v: string): StoreSource {
  if (v === 'wal' || v === 'clickhouse' || v === 'archive') return v;
  throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--${name}: "${v}" is not one of wal, clickhouse, archive`);
}

/** One problem as a line: `<chain> seq <n>[..<m>] | tree size <n> | <object>: <kind>: <message>`. */
export function formatProblem(p: VerifyProblem): string {
  const where = [
    p.chainId ? `chain ${p.chainId}` : undefined,
    p.seq !== undefined
      ? `seq ${p.seq}${p.seqTo !== undefined && p.seqTo !== p.seq ? `..${p.seqTo}` : ''}`
      : p.treeSize !== undefined
        ? `tree size ${p.treeSize}`
        : undefined,
    p.object ? `object ${p.object}` : undefined,
  ].filter(Boolean);
  return `${p.source}: ${where.join(' ')}: ${p.kind}: ${p.message}`;
}

function progressBar(done: number, total: number, width = 30): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} entries`;
}

function summary(r: VerifyStoreReport): string {
  const s = r.stats;
  return (
    `${r.source} (${r.location}): ${s.chains} chain(s), ${s.entries} entries, ${s.checkpointsVerified}/${s.checkpoints} checkpoints verified` +
    (s.uncoveredEntries > 0 ? `, ${s.uncoveredEntries} entries after the last checkpoint (hash-checked, not yet signed)` : '') +
    ` in ${(s.durationMillis / 1000).toFixed(2)} s`
  );
}

/** The `verify` command. */
export const command: Command = {
  summary: 'verify hash chains and signed checkpoints in the WAL, ClickHouse or the archive',
  async run(args) {
    const parsed = parseCommandArgs(args, USAGE, {
      source: { type: 'string' },
      compare: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
      tenant: { type: 'string' },
      chain: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      json: { type: 'boolean' },
      ...STORE_LOCATION_FLAGS,
    });
    if (!parsed) return 0;
    const { values } = parsed;
    if ((values.source === undefined) === (values.compare === undefined))
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `give exactly one of --source or --compare\n${USAGE}`);
    const since = parseTime('since', values.since);
    const until = parseTime('until', values.until);
    if (since && until && since >= until) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', '--since must be before --until');
    const location: StoreLocationOptions = {
      ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
      ...(values.config !== undefined ? { config: values.config } : {}),
      ...(values.url !== undefined ? { url: values.url } : {}),
      ...(values.pathname !== undefined ? { pathname: values.pathname } : {}),
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
      ...(values.archive !== undefined ? { archive: values.archive } : {}),
    };
    const filter = {
      ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
      ...(values.chain !== undefined ? { chain: values.chain } : {}),
    };

    if (values.compare !== undefined) {
      const parts = values.compare.split(',').map((s) => s.trim());
      if (parts.length !== 2 || parts[0] === parts[1])
        throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--compare: expected two different stores, e.g. clickhouse,archive`);
      const a = await openStoreView(parseSource('compare', parts[0]!), location, filter);
      try {
        const b = await openStoreView(parseSource('compare', parts[1]!), location, filter);
        try {
          const result: CompareReport = await compareStores(a, b);
          if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          else {
            for (const p of result.problems) process.stdout.write(`${formatProblem(p)}\n`);
            for (const n of result.notes) process.stdout.write(`note: ${n}\n`);
            process.stdout.write(
              `${result.ok ? 'stores agree' : 'stores DIFFER'}: ${result.sources.join(' vs ')}, ${result.stats.chains} chain(s), ${result.stats.compared} entries compared\n`,
            );
          }
          return result.ok ? 0 : 1;
        } finally {
          await b.close();
        }
      } finally {
        await a.close();
      }
    }

    const keys = await resolveVerifierKeys(values['public-key'] ?? [], location);
    const view = await openStoreView(parseSource('source', values.source!), location, filter);
    const tty = process.stderr.isTTY === true && !values.json;
    let lastDraw = 0;
    try {
      const report = await verifyStore(view, {
        verifierKeys: keys,
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        onProgress: (done, total) => {
          if (!tty || Date.now() - lastDraw < 100) return;
          lastDraw = Date.now();
          process.stderr.write(`\r${progressBar(done, total)}\x1b[K`);
        },
      });
      if (tty) process.stderr.write('\r\x1b[K');
      if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        for (const p of report.problems) process.stdout.write(`${formatProblem(p)}\n`);
        process.stdout.write(`${report.ok ? 'intact' : `NOT intact: ${report.problems.length} problem(s)`}: ${summary(report)}\n`);
      }
      return report.ok ? 0 : 1;
    } finally {
      await view.close();
    }
  },
};

export default command;
