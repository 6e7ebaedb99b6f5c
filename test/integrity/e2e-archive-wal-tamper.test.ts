/**
 * End to end, tampering with the cold archive, the WAL and the signed checkpoints is detected and
 * located: an edited Parquet object (bytes flipped; rows rewritten with a matching manifest), a
 * deleted object, a flipped byte in a WAL segment, a checkpoint with a bad signature, one signed by
 * another key, and one inconsistent with its predecessor. Each test tampers with its own copy of
 * the data written by a real receiver (child process) with integrity enabled.
 */
import { cpSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArchiveView, openWalView } from '../../cli/integrity/stores.ts';
import { type VerifyProblem, verifyStore } from '../../cli/integrity/verify-store.ts';
import { buildColdObject, coldObjectRows, LocalDirectoryStore, readColdObject } from '../../exporters/coldstore/index.ts';
import { signCheckpoint } from '../../integrity/checkpoint.ts';
import { type CheckpointRecord, createCheckpointer } from '../../integrity/checkpointer.ts';
import { loadSigner, loadVerifierKeys } from '../../integrity/keys.ts';
import { hexToHash } from '../../integrity/merkle.ts';
import { generateNoteKeyPair, parseSignerKey, type VerifierSet } from '../../integrity/note.ts';
import { type IntegrityFixture, runCli, runIntegrityReceiverInChild } from './e2e-helpers.ts';

let fx: IntegrityFixture;
let keys: VerifierSet;
let copies = 0;
const CHAIN = 'acme/rcv-test';

beforeAll(async () => {
  fx = await runIntegrityReceiverInChild({ prefix: 'e2e-arch', clickhouse: false });
  keys = await loadVerifierKeys(fx.key.verifierKey);
}, 60_000);

afterAll(() => {
  if (fx) rmSync(fx.dataDir, { recursive: true, force: true });
});

/** A copy of `sub` (archive or wal) of the fixture's data dir. */
function copyOf(sub: 'archive' | 'wal'): string {
  const dir = join(fx.dataDir, `copy-${++copies}`, sub);
  cpSync(join(fx.dataDir, sub), dir, { recursive: true });
  return dir;
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
    .sort();
}

async function verifyArchive(dir: string): Promise<VerifyProblem[]> {
  const view = await openArchiveView(new LocalDirectoryStore(dir));
  return (await verifyStore(view, { verifierKeys: keys })).problems;
}

/** The data objects of the acme chain, oldest first. */
function acmeObjects(dir: string): string[] {
  return files(dir).filter((f) => f.endsWith('.parquet') && f.includes('tenant=acme/'));
}

/** Checkpoint record files of the acme chain, by tree size. */
function acmeCheckpoints(dir: string): string[] {
  return files(join(dir, 'checkpoints')).filter((f) => f.endsWith('.json') && f.includes('tenant=acme/'));
}

describe('archive tampering', () => {
  it('intact archive verifies', async () => {
    expect(await verifyArchive(copyOf('archive'))).toEqual([]);
  });

  it('an edited Parquet object (bytes changed): the object is named, its seqs are missing', async () => {
    const dir = copyOf('archive');
    const file = acmeObjects(dir)[0]!;
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(file, bytes);
    const problems = await verifyArchive(dir);
    const key = relative(dir, file);
    expect(problems.find((p) => p.kind === 'bad-object')).toMatchObject({ object: key, chainId: CHAIN });
    expect(problems.find((p) => p.kind === 'bad-object')!.message).toMatch(/checksum mismatch/);
    const from = Number(/-(\d+)-\d+\.parquet$/.exec(file)![1]);
    expect(problems.find((p) => p.kind === 'missing' || p.kind === 'truncated')).toMatchObject({ chainId: CHAIN, seq: from });
  });

  it('an edited Parquet object rewritten with a matching manifest: modified at that seq', async () => {
    const dir = copyOf('archive');
    const store = new LocalDirectoryStore(dir);
    const key = relative(dir, acmeObjects(dir)[0]!);
    const read = await readColdObject(store, key);
    if (!read.ok) throw new Error(read.reason);
    const rows = await coldObjectRows(read);
    const target = rows[Math.floor(rows.length / 2)]!;
    target.Outcome = target.Outcome === 'success' ? 'failure' : 'success';
    const built = buildColdObject(rows, { prefix: '', format: 'parquet', zstdLevel: 3 });
    expect(built.key).toBe(key);
    writeFileSync(join(dir, key), built.bytes);
    writeFileSync(join(dir, `${key}.manifest.json`), built.manifestBytes);
    const problems = await verifyArchive(dir);
    expect(problems.map((p) => [p.kind, p.chainId, p.seq])).toContainEqual(['modified', CHAIN, target.Seq]);
    expect(problems.some((p) => p.kind === 'bad-object')).toBe(false);
  });

  it('a deleted object: its seq range is missing', async () => {
    const dir = copyOf('archive');
    const file = acmeObjects(dir)[1] ?? acmeObjects(dir)[0]!;
    const m = /-(\d+)-(\d+)\.parquet$/.exec(file)!;
    unlinkSync(file);
    unlinkSync(`${file}.manifest.json`);
    const problems = await verifyArchive(dir);
    expect(problems.find((p) => p.kind === 'missing' || p.kind === 'truncated')).toMatchObject({ chainId: CHAIN, seq: Number(m[1]) });
  });
});

describe('WAL tampering', () => {
  it('a flipped byte in a WAL segment: the record is named (segment@offset) and the entry is modified', async () => {
    const dir = copyOf('wal');
    const segment = files(join(dir, 'segments')).find((f) => f.endsWith('.wal'))!;
    const bytes = readFileSync(segment);
    // Inside the event of an acme entry: change one character of its actor id.
    const at = bytes.indexOf(Buffer.from('"actor":{"id":"u-'), Math.floor(bytes.length / 3));
    expect(at).toBeGreaterThan(0);
    const pos = at + '"actor":{"id":"u-'.length;
    bytes[pos] = bytes[pos] === 0x37 ? 0x38 : 0x37;
    writeFileSync(segment, bytes);
    const view = await openWalView(dir);
    const problems = (await verifyStore(view, { verifierKeys: keys })).problems;
    const corrupt = problems.find((p) => p.kind === 'corrupt-record');
    expect(corrupt?.object).toMatch(/segments\/\d+\.wal@\d+$/);
    expect(corrupt?.message).toMatch(/checksum mismatch/);
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'modified', chainId: corrupt!.chainId, seq: corrupt!.seq }));
  });

  it('verify --source wal on the CLI exits 1 and names the problem', async () => {
    const dir = copyOf('wal');
    const segment = files(join(dir, 'segments')).find((f) => f.endsWith('.wal'))!;
    const bytes = readFileSync(segment);
    bytes[bytes.length - 100]! ^= 0x01;
    writeFileSync(segment, bytes);
    const r = await runCli(['verify', '--source', 'wal', '--data-dir', join(dir, '..'), '--public-key', fx.key.verifierKey]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/corrupt-record/);
    expect(r.stdout).toMatch(/NOT intact/);
  });
});

describe('checkpoint tampering', () => {
  it('a checkpoint with a bad signature', async () => {
    const dir = copyOf('archive');
    const file = acmeCheckpoints(dir)[0]!;
    const record = JSON.parse(readFileSync(file, 'utf8')) as CheckpointRecord;
    const line = record.note.lastIndexOf('\n— ');
    const sigAt = record.note.lastIndexOf(' ') + 10;
    expect(sigAt).toBeGreaterThan(line);
    record.note = record.note.slice(0, sigAt) + (record.note[sigAt] === 'A' ? 'B' : 'A') + record.note.slice(sigAt + 1);
    writeFileSync(file, JSON.stringify(record));
    const problems = await verifyArchive(dir);
    expect(problems.find((p) => p.kind === 'bad-signature')).toMatchObject({ chainId: CHAIN, treeSize: record.treeSize });
  });

  it('a checkpoint signed by another key', async () => {
    const dir = copyOf('archive');
    const file = acmeCheckpoints(dir)[0]!;
    const record = JSON.parse(readFileSync(file, 'utf8')) as CheckpointRecord;
    const other = parseSignerKey(generateNoteKeyPair('otel-audit/test-host').signerKey);
    record.note = signCheckpoint({ origin: record.origin, treeSize: record.treeSize, rootHash: hexToHash(record.rootHash) }, other);
    record.keyId = other.keyIdHex;
    writeFileSync(file, JSON.stringify(record));
    const problems = await verifyArchive(dir);
    expect(problems.find((p) => p.kind === 'unknown-key')).toMatchObject({ chainId: CHAIN, treeSize: record.treeSize });
  });

  it('a checkpoint inconsistent with its predecessor (a forked history signed with the real key)', async () => {
    const dir = copyOf('archive');
    const [firstFile, secondFile] = acmeCheckpoints(dir);
    expect(secondFile).toBeDefined();
    const first = JSON.parse(readFileSync(firstFile!, 'utf8')) as CheckpointRecord;
    const second = JSON.parse(readFileSync(secondFile!, 'utf8')) as CheckpointRecord;
    // The first checkpoint replaced by one over a rewritten history (entry 1 changed), validly signed.
    const signer = await loadSigner(fx.key.signerPath);
    const fork = createCheckpointer({ signer, policy: { everyEntries: Number.MAX_SAFE_INTEGER, everyMillis: 1e12 } });
    for (let seq = 1; seq <= first.treeSize; seq++) fork.append({ chainId: CHAIN, seq, hash: (seq === 1 ? 'f' : '0').repeat(64) });
    const forged = (await fork.checkpoint(CHAIN))!;
    writeFileSync(firstFile!, JSON.stringify(forged));
    const problems = await verifyArchive(dir);
    expect(problems.find((p) => p.kind === 'inconsistent-checkpoint')).toMatchObject({ chainId: CHAIN, treeSize: second.treeSize });
    expect(problems.find((p) => p.kind === 'root-mismatch')).toMatchObject({ chainId: CHAIN, treeSize: first.treeSize });
  });
});
