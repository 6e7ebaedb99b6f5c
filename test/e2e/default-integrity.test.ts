/**
 * Tamper-evident by default: `otel-audit start` on an empty data dir creates its signing key in
 * `<dataDir>/keys` (0600), prints the verifier key, signs checkpoints; `otel-audit verify`,
 * `prove` and `verify-proof` without key flags find the key (data dir, or the running receiver)
 * and say that such a key proves consistency, not authenticity. A row changed in ClickHouse
 * (ALTER … UPDATE) makes verify fail and name the row.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { openClickHouse, parseClickHouseConfig } from '../../exporters/clickhouse/index.ts';
import { eventually, startReceiverProcess, tenantEventsInClickHouse } from './helpers/receiver-process.ts';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'otel-audit-default-integrity-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Run the CLI in `cwd` (so no otel-audit.yaml of the repository is read); never rejects on exit codes. */
async function cli(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const NO_COLDSTORE = { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false' };

describe('tamper-evident by default', () => {
  it('creates and prints a key, signs, verifies without key flags, and names a tampered row', { timeout: 300_000 }, async () => {
    const dataDir = tempDir();
    const cwd = tempDir();
    let receiver = await startReceiverProcess({ dataDir, env: NO_COLDSTORE });
    // The key: one pair in <dataDir>/keys, the signer key 0600; the banner prints the verifier key.
    const keysDir = join(dataDir, 'keys');
    const files = readdirSync(keysDir).sort();
    expect(files).toHaveLength(2);
    const keyFile = files.find((f) => f.endsWith('.key'))!;
    expect(statSync(join(keysDir, keyFile)).mode & 0o777).toBe(0o600);
    const verifierKey = readFileSync(join(keysDir, files.find((f) => f.endsWith('.pub'))!), 'utf8').trim();
    expect(receiver.output()).toContain(`verifier key  ${verifierKey}`);
    expect(receiver.output()).toMatch(/created now/);
    expect(await (await fetch(`${receiver.http}/v1/audit/verifier-key`)).text()).toBe(`${verifierKey}\n`);

    const tenant = `t-int-${Date.now()}`;
    const audit = createAuditLogger({
      delivery: 'memory',
      exporter: { protocol: 'http/json', endpoint: `${receiver.http}/v1/logs` },
      serviceName: 'int',
    });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++)
      ids.push(
        await audit.record({ action: 'grant.issue', outcome: 'success', actor: { id: `u-${i}`, type: 'user' }, tenant: { id: tenant } }),
      );
    expect((await audit.shutdown({ timeoutMillis: 20_000 })).status).toBe('success');
    await eventually(async () => ((await tenantEventsInClickHouse(receiver.http, tenant)).count === 40 ? true : undefined));

    // While it runs: no flags but the data dir; ClickHouse is read through the receiver, the key
    // comes from the data dir, with the one-line caveat.
    const live = await cli(cwd, 'verify', '--source', 'clickhouse', '--data-dir', dataDir);
    expect(live.code, live.stdout + live.stderr).toBe(0);
    expect(live.stdout).toMatch(/^intact: /m);
    const note = live.stderr.split('\n').filter((l) => l.startsWith('note: '));
    expect(note).toEqual([
      `note: verifier key ${verifierKey} taken from ${keysDir}: this proves consistency, not authenticity against someone who controls the receiver (pin the key with --public-key for that)`,
    ]);
    // No key in the (empty) data dir given: the running receiver's key, said so.
    const remote = await cli(
      cwd,
      'verify',
      '--source',
      'clickhouse',
      '--data-dir',
      tempDir(),
      '--url',
      receiver.http,
      '--pathname',
      '/clickhouse',
    );
    expect(remote.code, remote.stdout + remote.stderr).toBe(0);
    expect(remote.stderr).toContain(
      `note: verifier key ${verifierKey} taken from the receiver at ${receiver.http}: this proves consistency, not authenticity`,
    );
    // A pinned key: no caveat.
    const pinned = await cli(cwd, 'verify', '--source', 'clickhouse', '--data-dir', dataDir, '--public-key', verifierKey);
    expect(pinned.code).toBe(0);
    expect(pinned.stderr).not.toMatch(/note:/);

    // A restart keeps the key (never overwritten) and the stop checkpoints the whole chain.
    expect(await receiver.stop(), receiver.output()).toBe(0);
    receiver = await startReceiverProcess({ dataDir, env: NO_COLDSTORE });
    expect(receiver.output()).toContain(`verifier key  ${verifierKey}`);
    expect(receiver.output()).not.toMatch(/created now/);
    expect(readdirSync(keysDir).sort()).toEqual(files);
    expect(await receiver.stop(), receiver.output()).toBe(0);

    const stopped = await cli(cwd, 'verify', '--source', 'clickhouse', '--data-dir', dataDir);
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/intact: clickhouse .*40 entries, [1-9]\d*\/[1-9]\d* checkpoints verified/);

    // prove + verify-proof without key flags.
    const bundle = join(cwd, 'proof.json');
    const proved = await cli(cwd, 'prove', ids[7]!, '--data-dir', dataDir, '--out', bundle);
    expect(proved.code, proved.stderr).toBe(0);
    const checked = await cli(cwd, 'verify-proof', bundle, '--data-dir', dataDir);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout).toMatch(/^verified: event /);
    expect(checked.stderr).toMatch(/^note: verifier key .* proves consistency, not authenticity/);

    // Tamper with one row in ClickHouse.
    const victim = ids[23]!;
    const handle = openClickHouse(parseClickHouseConfig({ dataDir }));
    let seq: number;
    let chain: string;
    try {
      const rs = await handle.client.query({
        query: 'SELECT Seq, ChainId FROM otel_audit.audit_events WHERE EventId = {id:String}',
        query_params: { id: victim },
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ Seq: string | number; ChainId: string }>();
      seq = Number(row!.Seq);
      chain = row!.ChainId;
      await handle.client.command({
        query: `ALTER TABLE otel_audit.audit_events UPDATE Action = 'grant.revoke' WHERE EventId = '${victim}' SETTINGS mutations_sync = 2`,
      });
    } finally {
      await handle.close();
    }
    const tampered = await cli(cwd, 'verify', '--source', 'clickhouse', '--data-dir', dataDir);
    expect(tampered.code, tampered.stdout + tampered.stderr).toBe(1);
    expect(tampered.stdout).toContain(`clickhouse: chain ${chain} seq ${seq}`);
    expect(tampered.stdout).toMatch(/NOT intact/);
  });
});
