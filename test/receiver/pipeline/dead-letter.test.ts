import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type DeadLetter, DeadLetterStore, readDeadLetters } from '../../../receiver/dead-letter/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dead-letter-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const letter = (i: number): DeadLetter => ({
  time: new Date(Date.UTC(2026, 10, 22, 10, 0, i)).toISOString(),
  transport: 'grpc',
  code: 'AUDIT_ERR_INVALID_EVENT',
  reason: `problem ${i}`,
  recordIndex: i,
  record: { logRecord: { timeUnixNano: 123n, body: new Uint8Array([1, 2, 3]), n: i } },
});

it('rotates files, keeps at most maxFiles, and reads the newest letters back', async () => {
  const store = await DeadLetterStore.open(path.join(dir, 'dead-letters'), { maxFileBytes: 1024, maxFiles: 3 });
  for (let i = 0; i < 60; i++) {
    store.add([letter(i)]);
    if (i % 5 === 0) await store.flush();
  }
  await store.flush();
  const files = await readdir(path.join(dir, 'dead-letters'));
  expect(files.length).toBeLessThanOrEqual(3);
  expect(store.written).toBe(60);
  expect(store.count).toBeLessThan(60);
  const all = await readDeadLetters(dir, { limit: 1000 });
  expect(all.length).toBe(store.count);
  expect(all.at(-1)!.reason).toBe('problem 59');
  const rec = all.at(-1)!.record as { logRecord: { timeUnixNano: string; body: string } };
  expect(rec.logRecord).toMatchObject({ timeUnixNano: '123', body: 'AQID' });
  expect((await readDeadLetters(dir, { limit: 2 })).map((l) => l.recordIndex)).toEqual([58, 59]);
  expect((await readDeadLetters(dir, { since: letter(57).time })).map((l) => l.recordIndex)).toEqual([57, 58, 59]);
  // A reopened store counts what is there.
  const again = await DeadLetterStore.open(path.join(dir, 'dead-letters'), { maxFileBytes: 1024, maxFiles: 3 });
  expect(again.count).toBe(store.count);
});
