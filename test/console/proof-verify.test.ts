/**
 * The console's browser-safe proof verifier (console/src/proof-verify.ts, WebCrypto only) against
 * the Node implementation (integrity/): the docs/integrity.md worked example, the RFC 6962 vectors
 * of transparency-dev/merkle, Go's sumdb/note vectors, and tampered bundles, which must fail with
 * the same problem kinds. Node 24 has the same WebCrypto API (SHA-256, Ed25519) as Chromium.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type BrowserVerifierKey,
  leafHash as browserLeafHash,
  checkpointOrigin as browserOrigin,
  rootFromInclusionProof as browserRootFromProof,
  decodeBase64,
  entryHash,
  fromHex,
  openCheckpointInBrowser,
  parseVerifierKeyInBrowser,
  toHex,
  verifyProofBundleInBrowser,
} from '../../console/src/proof-verify.ts';
import {
  checkpointOrigin,
  computeEntryHash,
  createProofBundle,
  hashToHex,
  leafHash,
  noteSignerFromSeed,
  signCheckpoint,
  verifyProofBundle,
} from '../../integrity/index.ts';
import { sha256 } from '../../integrity/merkle.ts';
import { docsExample } from '../integrity/docs-example.ts';
import { MerkleTree } from '../integrity/helpers/merkle-tree.ts';

const merkleVectors = JSON.parse(readFileSync(new URL('../integrity/vectors/rfc6962-transparency-dev.json', import.meta.url), 'utf8')) as {
  leaves: string[];
  rootsBySize: string[];
  inclusionProofs: Array<{ leaf: number; size: number; proof: string[] }>;
  hasher: Record<string, string>;
};
const noteVectors = JSON.parse(readFileSync(new URL('../integrity/vectors/go-sumdb-note.json', import.meta.url), 'utf8')) as Record<
  string,
  string
>;

async function key(text: string): Promise<BrowserVerifierKey> {
  const parsed = await parseVerifierKeyInBrowser(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.key;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const kinds = (r: { ok: boolean; problems?: Array<{ kind: string }> }) => (r.ok ? [] : r.problems!.map((p) => p.kind).sort());

describe('browser proof verifier vs integrity/', () => {
  const ex = docsExample();

  it('computes the entry hashes, leaf hashes and origin of the docs example', async () => {
    for (const e of ex.entries) {
      expect(await entryHash(e.prevHash, e.event, 1)).toBe(e.hash);
      expect(await entryHash(e.prevHash, e.event, 1)).toBe(computeEntryHash(e.prevHash, e.event, 1));
      expect(await entryHash(e.prevHash, e.event, 2)).toBe(computeEntryHash(e.prevHash, e.event, 2));
      expect(toHex(await browserLeafHash(fromHex(e.hash)))).toBe(e.leafHash);
    }
    expect(browserOrigin(ex.chainId)).toBe(checkpointOrigin(ex.chainId));
    expect(browserOrigin('a b/c+d/inst')).toBe(checkpointOrigin('a b/c+d/inst'));
    expect(browserOrigin('nochain')).toBe(checkpointOrigin('nochain'));
  });

  it('reproduces every RFC 6962 inclusion-proof root of the transparency-dev vectors', async () => {
    const leafHashes = await Promise.all(merkleVectors.leaves.map((l) => browserLeafHash(fromHex(l))));
    expect(toHex(leafHashes[0]!)).toBe(merkleVectors.hasher.emptyLeafHash);
    for (const v of merkleVectors.inclusionProofs) {
      const got = await browserRootFromProof(v.leaf - 1, v.size, leafHashes[v.leaf - 1]!, v.proof.map(fromHex));
      expect(got.ok).toBe(true);
      if (got.ok) expect(toHex(got.root)).toBe(merkleVectors.rootsBySize[v.size]);
    }
    // A path of the wrong length is refused, as RFC 9162 §2.1.3.2 requires.
    const v = merkleVectors.inclusionProofs.find((p) => p.proof.length > 1)!;
    expect((await browserRootFromProof(v.leaf - 1, v.size, leafHashes[v.leaf - 1]!, v.proof.slice(1).map(fromHex))).ok).toBe(false);
  });

  it('verifies the Go sumdb/note signature and rejects a changed text', async () => {
    const peter = await key(noteVectors.peterVerifierKey!);
    const note = `${noteVectors.text}\n${noteVectors.peterSignatureLine}`;
    // The note text is not a checkpoint: signature verification passes, then the text is refused as one.
    const opened = await openCheckpointInBrowser(note, [peter], undefined);
    expect(opened).toMatchObject({ ok: false, kind: 'malformed-checkpoint' });
    const altered = await openCheckpointInBrowser(note.replace('answer', 'ANSWER'), [peter], undefined);
    expect(altered).toMatchObject({ ok: false, kind: 'bad-signature' });
    const enoch = await key(noteVectors.enochVerifierKey!);
    expect(await openCheckpointInBrowser(note, [enoch], undefined)).toMatchObject({ ok: false, kind: 'unknown-key' });
  });

  it('parses verifier keys like integrity/note.ts and refuses bad ones with the reason', async () => {
    expect((await key(ex.signer.verifierKey)).keyIdHex).toBe(ex.signer.keyIdHex);
    expect(await parseVerifierKeyInBrowser(noteVectors.peterSignerKey!)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/private/),
    });
    const wrongId = ex.signer.verifierKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+');
    expect(await parseVerifierKeyInBrowser(wrongId)).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match/) });
    expect(await parseVerifierKeyInBrowser('name+12345678+!!!')).toMatchObject({ ok: false, reason: expect.stringMatching(/base64/) });
    expect(decodeBase64('AA=')).toBeUndefined();
  });

  it('verifies the docs example bundle with the same result as verifyProofBundle', async () => {
    const node = verifyProofBundle(ex.bundle, [ex.signer.verifierKey]);
    const browser = await verifyProofBundleInBrowser(clone(ex.bundle), [await key(ex.signer.verifierKey)]);
    expect(browser).toEqual(node);
    expect(browser).toMatchObject({ ok: true, seq: 2, treeSize: 3, rootHash: ex.root, origin: 'otel-audit/receiver-1/acme' });
  });

  it('finds the same problems as verifyProofBundle in tampered bundles', async () => {
    const k = await key(ex.signer.verifierKey);
    const other = noteSignerFromSeed('otel-audit/receiver-1', sha256(Buffer.from('another key')));
    const tampers: Array<[string, (b: ReturnType<typeof clone<typeof ex.bundle>>) => void]> = [
      ['event edited', (b) => void ((b.event as { action: string }).action = 'grant.revoke')],
      ['hash edited', (b) => void (b.entry.hash = b.entry.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')))],
      ['path element edited', (b) => void (b.inclusionPath[0] = '0'.repeat(64))],
      ['path too short', (b) => void b.inclusionPath.pop()],
      ['leaf index', (b) => void (b.leafIndex = 0)],
      ['tree size', (b) => void (b.treeSize = 4)],
      [
        'signature',
        (b) =>
          void (b.checkpoint = b.checkpoint
            .replace(/ (.)/, (_m, c: string) => ` ${c === 'A' ? 'B' : 'A'}`)
            .replace(/— (\S+) (.)/, (_m, n: string, c: string) => `— ${n} ${c === 'A' ? 'B' : 'A'}`)),
      ],
      ['signed by another key', (b) => void (b.checkpoint = signCheckpoint({ origin: ex.origin, treeSize: 3, rootHash: ex.root }, other))],
      ['other origin', (b) => void (b.entry.chainId = 'globex/receiver-1')],
      ['version', (b) => void ((b as { version: number }).version = 2)],
      ['malformed', (b) => void ((b as { inclusionPath: unknown }).inclusionPath = 'x')],
    ];
    for (const [what, tamper] of tampers) {
      const b = clone(ex.bundle);
      tamper(b);
      const node = verifyProofBundle(b, [ex.signer.verifierKey]);
      const browser = await verifyProofBundleInBrowser(b, [k]);
      expect(browser.ok, what).toBe(false);
      expect(kinds(browser), what).toEqual(kinds(node));
    }
  });

  it('agrees with verifyProofBundle on every leaf of a 300-entry chain (more than one tile)', async () => {
    const signer = noteSignerFromSeed('otel-audit/rcv', sha256(Buffer.from('console test key')));
    const chainId = 'acme/rcv';
    let prev = '0'.repeat(64);
    const entries = Array.from({ length: 300 }, (_, i) => {
      const event = {
        eventId: `0193a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`,
        schemaVersion: '1.0',
        occurredAt: '2026-11-22T10:00:00.000Z',
        action: 'doc.read',
        outcome: 'success',
        actor: { id: `u-${i}`, type: 'user' },
        tenant: { id: 'acme' },
        details: { n: i, note: 'ünïcødé "q"' },
      } as never;
      const hash = computeEntryHash(prev, event, 2);
      const e = { chainId, seq: i + 1, prevHash: prev, hash, chainVersion: 2 as const, event };
      prev = hash;
      return e;
    });
    const tree = new MerkleTree(entries.map((e) => e.hash));
    const note = signCheckpoint({ origin: checkpointOrigin(chainId), treeSize: 300, rootHash: tree.root() }, signer);
    const k = await key(signer.verifierKey);
    for (const i of [0, 1, 127, 255, 256, 298, 299]) {
      const bundle = createProofBundle({
        event: entries[i]!.event,
        entry: entries[i]!,
        inclusionPath: tree.inclusionProof(i, 300),
        checkpoint: note,
      });
      const browser = await verifyProofBundleInBrowser(clone(bundle), [k]);
      expect(browser).toEqual(verifyProofBundle(bundle, [signer.verifierKey]));
      expect(browser.ok).toBe(true);
    }
    expect(hashToHex(leafHash(Buffer.from(entries[0]!.hash, 'hex')))).toBe(toHex(await browserLeafHash(fromHex(entries[0]!.hash))));
  });
});
