import { describe, expect, it } from 'vitest';
import {
  PayloadPacker,
  packPayloads,
  payloadBuffer,
  payloadCount,
  payloadStart,
  payloadText,
  payloadTexts,
} from '../../../receiver/wal/packed-payloads.ts';

describe('packed WAL payloads', () => {
  const texts = ['{"a":1}', '', '{"name":"Zoë ✓ 🚀"}', 'x'.repeat(5000)];

  it('packPayloads and payloadTexts round-trip multi-byte UTF-8 and empty payloads', () => {
    const p = packPayloads(texts);
    expect(payloadCount(p)).toBe(4);
    expect(payloadTexts(p)).toEqual(texts);
    expect(payloadStart(p, 0)).toBe(0);
    expect(payloadStart(p, 2)).toBe(Buffer.byteLength(texts[0]!));
    expect(payloadText(p, 2)).toBe(texts[2]);
  });

  it('PayloadPacker grows its buffers, copies each payload (the source window may be reused) and starts over on reset', () => {
    const packer = new PayloadPacker();
    packer.reset(1);
    const window = Buffer.alloc(64);
    const want: string[] = [];
    for (let i = 0; i < 300; i++) {
      const t = `{"n":${i},"pad":"${'y'.repeat(i % 40)}"}`;
      window.fill(0);
      const n = window.write(t, 0, 'utf8');
      packer.add(window.subarray(0, n));
      want.push(t);
    }
    expect(packer.length).toBe(300);
    expect(payloadTexts(packer.finish())).toEqual(want);
    packer.reset(16);
    packer.add(Buffer.from('{"again":true}'));
    expect(payloadTexts(packer.finish())).toEqual(['{"again":true}']);
  });

  it('survives a structured clone (a worker gets a plain Uint8Array, not a Buffer)', () => {
    const p = packPayloads(texts);
    const cloned = structuredClone({ data: new Uint8Array(p.data), ends: new Uint32Array(p.ends) });
    expect(Buffer.isBuffer(cloned.data)).toBe(false);
    expect(payloadBuffer(cloned).toString('utf8', 0, 7)).toBe('{"a":1}');
    expect(payloadTexts(cloned)).toEqual(texts);
  });
});
