import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWal } from './fixtures.ts';

const child = path.join(import.meta.dirname, 'crash-child.ts');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'crash-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run the child until it acknowledged at least `minAcks` events, then SIGKILL it. Returns the acked ids. */
async function runAndKill(
  dataDir: string,
  minAcks: number,
  resendFile?: string,
  script = child,
): Promise<{ acked: string[]; ready: string; pendingAtKill: number }> {
  const proc = spawn(process.execPath, [script, dataDir, ...(resendFile ? [resendFile] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const acked: string[] = [];
  let ready = '';
  let pending = -1;
  // The PENDING value when the kill was decided: lines still in the pipe after it (read until
  // close, their ACKs count) must not overwrite it.
  let pendingAtKill = -1;
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const lines = createInterface({ input: proc.stdout });
  const closed = new Promise((r) => lines.once('close', r));
  let early: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    early = (code, signal) => reject(new Error(`child exited early (${code ?? signal}): ${stderr}`));
    proc.on('exit', early);
    lines.on('line', (line) => {
      if (line.startsWith('READY')) ready = line;
      else if (line.startsWith('ACK ')) acked.push(line.slice(4));
      else if (line.startsWith('PENDING ')) pending = Number(line.slice(8));
      // The pool crash test waits until requests are reported inside the workers (PENDING > 0).
      if (pendingAtKill < 0 && acked.length >= minAcks && (script === child || pending > 0)) {
        pendingAtKill = pending;
        resolve();
      }
    });
  });
  proc.off('exit', early!);
  proc.kill('SIGKILL');
  await exited;
  // Lines already in the pipe were acknowledged too.
  await closed;
  return { acked, ready, pendingAtKill };
}

describe('crash: SIGKILL while appending concurrently', () => {
  it('keeps every acknowledged event exactly once, with gap-free seq and a recomputing chain, over repeated kills', async () => {
    const dataDir = path.join(dir, 'data');
    const allAcked = new Set<string>();
    let resendFile: string | undefined;
    for (let round = 0; round < 4; round++) {
      const { acked, ready } = await runAndKill(dataDir, 1500 + round * 500, resendFile);
      expect(ready).toMatch(/^READY/);
      // Round 2 started on the torn tail injected after round 1: recovery cut it off.
      if (round === 2) expect(ready).toMatch(/"truncatedBytes":[1-9]/);
      for (const id of acked) allAcked.add(id);
      const check = await checkWal(dataDir);
      expect(check.problems).toEqual([]);
      const missing = [...allAcked].filter((id) => !check.ids.has(id));
      expect(missing).toEqual([]);
      // Next round re-sends some acknowledged ids: they must be deduped across the restart.
      resendFile = path.join(dir, `resend-${round}.txt`);
      await writeFile(resendFile, acked.slice(0, 200).join('\n'));
      if (round === 1) {
        // Simulate a torn final write on top of the kill: half a record at the end of the last segment.
        const segDir = path.join(dataDir, 'wal', 'segments');
        const last = (await readdir(segDir)).sort().at(-1)!;
        await appendFile(path.join(segDir, last), Buffer.from([200, 1, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 9, 9]));
      }
    }
    // A final clean start recovers (truncating the torn tail if any) and still has everything.
    const { acked, ready } = await runAndKill(dataDir, 100, resendFile);
    expect(ready).toMatch(/"records":\d+/);
    for (const id of acked) allAcked.add(id);
    const check = await checkWal(dataDir);
    expect(check.problems).toEqual([]);
    expect([...allAcked].filter((id) => !check.ids.has(id))).toEqual([]);
    expect(check.entries.length).toBeGreaterThanOrEqual(allAcked.size);
  });
});

describe('crash: SIGKILL while the prepare workers hold requests', () => {
  it('stores every acknowledged event exactly once with contiguous seq and recomputing chains, over repeated kills', async () => {
    const script = path.join(import.meta.dirname, 'crash-encoded-child.ts');
    const dataDir = path.join(dir, 'data-pool');
    const allAcked = new Set<string>();
    let resendFile: string | undefined;
    for (let round = 0; round < 3; round++) {
      // Killed at an arbitrary moment of a steady load of 16 concurrent requests over 2 workers:
      // requests are in the workers, in the sequencer's WAL batch and waiting for the fsync.
      const { acked, ready, pendingAtKill } = await runAndKill(dataDir, 800 + round * 400, resendFile, script);
      expect(ready).toMatch(/^READY/);
      expect(pendingAtKill).toBeGreaterThan(0);
      for (const id of acked) allAcked.add(id);
      const check = await checkWal(dataDir);
      expect(check.problems).toEqual([]);
      expect([...allAcked].filter((id) => !check.ids.has(id))).toEqual([]);
      expect(check.entries.every((e) => e.chainVersion === 2)).toBe(true);
      resendFile = path.join(dir, `resend-pool-${round}.txt`);
      await writeFile(resendFile, acked.slice(0, 300).join('\n'));
    }
  }, 300_000);
});
