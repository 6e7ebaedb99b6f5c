import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyFiles, loadSigner, loadVerifierKeys, proveEntry } from '../../integrity/index.ts';
import { MerkleTree } from './helpers/merkle-tree.ts';
import { checkpointsAt, makeChain } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otel-audit-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key files', () => {
  it('generateKeyFiles writes a 0600 signer and a public verifier; loadSigner/loadVerifierKeys read them', async () => {
    const out = await generateKeyFiles({ name: 'otel-audit/test-host', outDir: join(dir, 'lib') });
    expect((await stat(out.signerPath)).mode & 0o777).toBe(0o600);
    expect(out.signerPath).toMatch(/otel-audit_test-host-[0-9a-f]{8}\.key$/);
    const signer = await loadSigner(out.signerPath, { onWarning: () => expect.fail('no warning expected') });
    expect(signer.verifierKey).toBe(out.verifierKey);
    const set = await loadVerifierKeys([out.verifierPath]);
    expect(set.verifiers.map((v) => v.verifierKey)).toEqual([out.verifierKey]);
    expect((await loadVerifierKeys(out.verifierKey)).verifiers).toHaveLength(1);
  });

  it('clear errors: missing file, wrong mode (warning), bad content, not a key', async () => {
    await expect(loadSigner(join(dir, 'nope.key'))).rejects.toThrow(
      /signing key file not found: .*nope\.key \(create one with: otel-audit keys generate\)/,
    );
    const out = await generateKeyFiles({ name: 'otel-audit/mode', outDir: join(dir, 'mode') });
    await chmod(out.signerPath, 0o644);
    const warnings: string[] = [];
    await loadSigner(out.signerPath, { onWarning: (m) => warnings.push(m) });
    expect(warnings[0]).toMatch(/accessible by group or others \(mode 0644\); restrict it with: chmod 600/);
    const bad = join(dir, 'bad.key');
    await writeFile(bad, 'PRIVATE+KEY+x+00000000+AQAA\n', { mode: 0o600 });
    await expect(loadSigner(bad)).rejects.toThrow(
      /^signing key problem: .*bad\.key: invalid signer key: Ed25519 seed must be 32 bytes, got 2$/,
    );
    await writeFile(bad, await readFile(out.verifierPath, 'utf8'), { mode: 0o600 });
    await expect(loadSigner(bad)).rejects.toThrow(/must start with "PRIVATE\+KEY\+"/);
    await expect(loadVerifierKeys('not-a-key')).rejects.toThrow(/neither a verifier key .* nor an existing file/);
    await expect(loadVerifierKeys(out.signerPath)).rejects.toThrow(/private signer key/);
    await expect(generateKeyFiles({ name: 'bad name', outDir: dir })).rejects.toThrow(/invalid key name/);
  });
});

describe('CLI (Node 24, cli/main.ts)', () => {
  it('keys generate writes the pair, mode 0600, and prints the verifier key', async () => {
    const outDir = join(dir, 'cli-keys');
    const res = await cli(['keys', 'generate', '--name', 'otel-audit/cli-host', '--out-dir', outDir]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^otel-audit\/cli-host\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n$/);
    const files = (await readdir(outDir)).sort();
    expect(files).toHaveLength(2);
    const keyFile = join(outDir, files.find((f) => f.endsWith('.key'))!);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(res.stderr).toContain('wrote signer key (secret, mode 0600)');
    const again = await cli(['keys', 'verifier-key', keyFile]);
    expect(again).toMatchObject({ code: 0, stdout: res.stdout });
    const usage = await cli(['keys', 'frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('unknown subcommand "frobnicate"');
  });

  it('verify-proof: exit 0 for a valid bundle, 1 with precise problems, --json, 2 without key', async () => {
    const keysOut = await generateKeyFiles({ name: 'otel-audit/proof-host', outDir: join(dir, 'proof') });
    const signer = await loadSigner(keysOut.signerPath);
    const chain = makeChain(7);
    const [record] = await checkpointsAt(chain, [7], signer);
    const e = chain[3]!;
    const bundle = await proveEntry({ event: e.event, entry: e, checkpoint: record!, leaves: new MerkleTree(chain.map((x) => x.hash)) });
    const good = join(dir, 'proof.json');
    await writeFile(good, JSON.stringify(bundle, null, 2));

    const tampered = join(dir, 'tampered.json');
    await writeFile(tampered, JSON.stringify({ ...bundle, event: { ...bundle.event, outcome: 'failure' } }));
    const other = await generateKeyFiles({ name: 'otel-audit/other', outDir: join(dir, 'other') });
    // Independent runs in parallel (each is a Node process start).
    const [ok, viaFile, bad, badJson, wrongKey, rotated, noKey, missing] = await Promise.all([
      cli(['verify-proof', good, '--public-key', keysOut.verifierKey]),
      cli(['verify-proof', good, '--public-key', keysOut.verifierPath, '--json']),
      cli(['verify-proof', tampered, '--public-key', keysOut.verifierKey]),
      cli(['verify-proof', tampered, '--public-key', keysOut.verifierKey, '--json']),
      cli(['verify-proof', good, '--public-key', other.verifierKey]),
      // Rotation: old and new keys given, the old signature is accepted.
      cli(['verify-proof', good, '--public-key', other.verifierKey, '--public-key', keysOut.verifierKey]),
      cli(['verify-proof', good]),
      cli(['verify-proof', join(dir, 'missing.json'), '--public-key', keysOut.verifierKey]),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`verified: event ${e.event.eventId} is entry seq 4 of chain acme/host-1`);
    expect(viaFile.code).toBe(0);
    expect(JSON.parse(viaFile.stdout)).toMatchObject({ ok: true, seq: 4, treeSize: 7, rootHash: record!.rootHash });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      /NOT verified: .*tampered\.json\n {2}- event-modified \(event\): SHA-256\(prevHash ‖ SHA-256\(JCS\(event\)\)\) is [0-9a-f]{64}, but the entry hash is/,
    );
    expect(badJson.code).toBe(1);
    expect(JSON.parse(badJson.stdout).problems[0].kind).toBe('event-modified');
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain('unknown-key');
    expect(rotated.code).toBe(0);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('--public-key is required');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  });
});
