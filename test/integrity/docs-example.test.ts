import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verifyProofBundle } from '../../integrity/index.ts';
import { docsExample } from './docs-example.ts';

describe('docs/integrity.md worked example', () => {
  const doc = readFileSync(new URL('../../docs/integrity.md', import.meta.url), 'utf8');
  const ex = docsExample();

  it('every value in the document is what the library computes', () => {
    expect(doc).toContain(ex.entries[0]!.canonical);
    for (const e of ex.entries) {
      expect(doc).toContain(e.hash);
      expect(doc).toContain(e.leafHash);
    }
    expect(doc).toContain(ex.node01);
    expect(doc).toContain(ex.root);
    expect(doc).toContain(ex.signer.verifierKey);
    expect(doc).toContain(ex.note.replace(/\n$/, ''));
    expect(ex.origin).toBe('otel-audit/receiver-1/acme');
    expect(ex.path).toEqual([ex.entries[0]!.leafHash, ex.entries[2]!.leafHash]);
  });

  it('the example proof bundle verifies', () => {
    expect(verifyProofBundle(ex.bundle, [ex.signer.verifierKey])).toMatchObject({ ok: true, seq: 2, treeSize: 3, rootHash: ex.root });
  });
});
