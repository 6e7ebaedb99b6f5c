import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkpointOrigin,
  createVerifierSet,
  formatCheckpoint,
  generateNoteKeyPair,
  merkleRoot,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signNote,
} from '../../integrity/index.ts';

const go = JSON.parse(readFileSync(new URL('./vectors/go-sumdb-note.json', import.meta.url), 'utf8')) as {
  peterVerifierKey: string;
  peterSignerKey: string;
  enochVerifierKey: string;
  text: string;
  peterSignatureLine: string;
  enochSignatureLine: string;
};

/** Byte-oriented splice (Go's tests index bytes; the em dash is 3 UTF-8 bytes). */
function spliceBytes(s: string, at: number, insert: string): string {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([b.subarray(0, at), Buffer.from(insert), b.subarray(at)]).toString('utf8');
}

describe('C2SP signed note — Go sumdb/note cross-check', () => {
  it('parses the published verifier and signer keys; the signer derives the same verifier key', () => {
    const v = parseVerifierKey(go.peterVerifierKey);
    expect(v.name).toBe('PeterNeumann');
    expect(v.keyIdHex).toBe('c74f20a3');
    expect(v.verifierKey).toBe(go.peterVerifierKey);
    const s = parseSignerKey(go.peterSignerKey);
    expect(s.verifierKey).toBe(go.peterVerifierKey);
    expect(s.signerKey).toBe(go.peterSignerKey);
  });

  it('signs exactly as Go note.Sign (Ed25519 is deterministic)', () => {
    const signer = parseSignerKey(go.peterSignerKey);
    expect(signNote(go.text, [signer])).toBe(`${go.text}\n${go.peterSignatureLine}`);
  });

  it('opens like Go note.Open: known keys verified, unknown ignored, none trusted rejected', () => {
    const msg = `${go.text}\n${go.peterSignatureLine}${go.enochSignatureLine}`;
    const one = openNote(msg, [go.peterVerifierKey]);
    expect(one.ok).toBe(true);
    if (!one.ok) return;
    expect(one.text).toBe(go.text);
    expect(one.verified.map((s) => `${s.name}+${s.keyIdHex}`)).toEqual(['PeterNeumann+c74f20a3']);
    expect(one.unverified.map((s) => `${s.name}+${s.keyIdHex}`)).toEqual(['EnochRoot+af0cfe78']);

    const both = openNote(msg, [go.peterVerifierKey, go.enochVerifierKey]);
    expect(both.ok && both.verified.length).toBe(2);

    const none = openNote(msg, []);
    expect(none).toMatchObject({ ok: false, kind: 'unknown-key' });
  });

  it('rejects an invalid signature by a known key', () => {
    const bad = spliceBytes(go.peterSignatureLine, 60, 'ABCD');
    const res = openNote(`${go.text}\n${bad}`, [go.peterVerifierKey]);
    expect(res).toMatchObject({ ok: false, kind: 'bad-signature', reason: 'invalid signature for key PeterNeumann+c74f20a3' });
  });

  it('rejects malformed notes (Go badMsgs) with a reason', () => {
    const p = go.peterSignatureLine;
    const bad = [
      go.text,
      `${go.text}\n`,
      `${go.text}\n${p.slice(0, -1)}`,
      `\u0001${go.text}\n${p}`,
      `${go.text}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${go.text}\n${p}Unexpected line.\n`,
      `${go.text}\n${p.repeat(101)}`,
    ];
    for (const msg of bad) {
      const res = openNote(msg, [go.peterVerifierKey]);
      expect(res.ok).toBe(false);
      if (!res.ok) {
        expect(res.kind).toBe('malformed');
        expect(res.reason.length).toBeGreaterThan(10);
      }
    }
  });

  it('rejects every mangling of the verifier key (Go TestNewVerifier)', () => {
    const k = go.peterVerifierKey;
    let accepted = 0;
    for (let i = 0; i <= k.length; i++) {
      for (let j = i + 1; j <= k.length; j++) {
        if (i === 0 && j === k.length) continue;
        try {
          parseVerifierKey(k.slice(i, j));
          accepted++;
        } catch (err) {
          expect((err as Error).message).toMatch(/^signing key problem: invalid verifier key: /);
        }
      }
    }
    for (let i = 0; i < k.length; i++) {
      const mangled = k.slice(0, i) + String.fromCharCode(k.charCodeAt(i) + 1) + k.slice(i + 1);
      try {
        parseVerifierKey(mangled);
        accepted++;
      } catch {
        // expected
      }
    }
    expect(accepted).toBe(0);
    expect(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')).toThrow(/32 bytes|base64/);
    expect(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(
      /unknown signature algorithm/,
    );
    expect(() => parseVerifierKey(go.peterSignerKey)).toThrow(/private signer key/);
  });

  it('verifier sets: lookup by name and key id, ambiguity', () => {
    const set = createVerifierSet([go.peterVerifierKey, go.enochVerifierKey, go.enochVerifierKey]);
    expect(set.verifiers).toHaveLength(2);
    expect(set.find('PeterNeumann', 0xc74f20a3)).toBeTruthy();
    expect(set.find('PeterNeumann', 0xc74f20a4)).toBeUndefined();
    expect(set.find('PeterNeuman', 0xc74f20a3)).toBeUndefined();
  });

  it('generated keys round-trip and sign/verify', () => {
    const pair = generateNoteKeyPair('otel-audit/host-1');
    const signer = parseSignerKey(pair.signerKey);
    expect(signer.verifierKey).toBe(pair.verifierKey);
    const note = signNote('hello\n', [signer]);
    expect(openNote(note, [pair.verifierKey]).ok).toBe(true);
    expect(openNote(note.replace('hello', 'hellO'), [pair.verifierKey])).toMatchObject({ ok: false, kind: 'bad-signature' });
    expect(() => generateNoteKeyPair('bad name')).toThrow(/invalid key name/);
  });
});

describe('C2SP tlog checkpoints', () => {
  const root = merkleRoot([Buffer.alloc(32, 1)]);

  it('formats and parses the checkpoint text', () => {
    const text = formatCheckpoint({ origin: 'otel-audit/host-1/acme', treeSize: 1, rootHash: root });
    expect(text).toBe(`otel-audit/host-1/acme\n1\n${root.toString('base64')}\n`);
    expect(parseCheckpoint(text)).toEqual({
      ok: true,
      checkpoint: { origin: 'otel-audit/host-1/acme', treeSize: 1, rootHash: root.toString('hex'), extensions: [] },
    });
    // The C2SP spec's example text parses.
    const spec = parseCheckpoint('example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n');
    expect(spec).toMatchObject({ ok: true, checkpoint: { origin: 'example.com/behind-the-sofa', treeSize: 20852163 } });
  });

  it('parses strictly and names the problem', () => {
    const b64 = root.toString('base64');
    const cases: Array<[string, RegExp]> = [
      ['o\n1\n' + b64, /newline/],
      ['o\n1\n', /at least 3 lines/],
      ['\n1\n' + b64 + '\n', /origin is empty/],
      ['o\n01\n' + b64 + '\n', /leading zeroes/],
      ['o\n-1\n' + b64 + '\n', /decimal/],
      ['o\n99999999999999999999\n' + b64 + '\n', /too large/],
      ['o\n1\n' + b64.slice(1) + '\n', /base64 of 32 bytes/],
      ['o\n1\n' + b64 + '\n\n', /extension lines must not be empty/],
    ];
    for (const [text, reason] of cases) {
      const res = parseCheckpoint(text);
      expect(res.ok).toBe(false);
      if (!res.ok) expect(res.reason).toMatch(reason);
    }
  });

  it('signs and opens; another key, a bad signature, a foreign origin are rejected', () => {
    const a = parseSignerKey(generateNoteKeyPair('otel-audit/host-1').signerKey);
    const b = parseSignerKey(generateNoteKeyPair('otel-audit/host-1').signerKey);
    const note = signCheckpoint({ origin: checkpointOrigin('acme/host-1'), treeSize: 1, rootHash: root }, a);
    expect(openCheckpoint(note, [a.verifierKey], { expectedOrigin: 'otel-audit/host-1/acme' })).toMatchObject({
      ok: true,
      checkpoint: { treeSize: 1 },
    });
    expect(openCheckpoint(note, [b.verifierKey])).toMatchObject({ ok: false, kind: 'unknown-key' });
    expect(openCheckpoint(note.replace('\n1\n', '\n2\n'), [a.verifierKey])).toMatchObject({
      ok: false,
      kind: 'bad-signature',
      checkpoint: { treeSize: 2 },
    });
    expect(openCheckpoint(note, [a.verifierKey], { expectedOrigin: 'otel-audit/host-1/other' })).toMatchObject({
      ok: false,
      kind: 'origin-mismatch',
    });
    // Rotation: a set holding old and new keys verifies checkpoints of both.
    const byB = signCheckpoint({ origin: 'o', treeSize: 1, rootHash: root }, b);
    const set = createVerifierSet([a.verifierKey, b.verifierKey]);
    expect(openCheckpoint(note, set).ok && openCheckpoint(byB, set).ok).toBe(true);
  });

  it('origins are derived from the chain id and stay valid key-name-like strings', () => {
    expect(checkpointOrigin('acme/host-1')).toBe('otel-audit/host-1/acme');
    expect(checkpointOrigin('a b+c/host-1')).toBe('otel-audit/host-1/a%20b%2Bc');
    expect(checkpointOrigin('org/team/host-1')).toBe('otel-audit/host-1/org%2Fteam');
    expect(checkpointOrigin('single')).toBe('otel-audit/single');
    expect(checkpointOrigin('acme/h', 'audit.example.com')).toBe('audit.example.com/h/acme');
  });
});
