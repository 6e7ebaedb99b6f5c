import { PassThrough } from 'node:stream';
import { AuditError, createLogger } from '@otel-audit/core';
import { describe, expect, it } from 'vitest';

function capture(isTTY = false): { stream: PassThrough & { isTTY?: boolean }; lines(): string[] } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  stream.isTTY = isTTY;
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('logger', () => {
  it('writes JSON lines by default, with child bindings, levels and errors with their code', async () => {
    const out = capture();
    const log = createLogger({ name: 'otel-audit', destination: out.stream, level: 'info' });
    log.child({ component: 'wal' }).warn({ err: new AuditError('AUDIT_ERR_WAL_IO', 'segment GC failed'), segment: 7 }, 'segment GC failed');
    log.debug({ x: 1 }, 'not written at info');
    await tick();
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, name: 'otel-audit', component: 'wal', segment: 7, msg: 'segment GC failed' });
    expect(lines[0]!.err).toMatchObject({ type: 'AuditError', code: 'AUDIT_ERR_WAL_IO' });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('pretty-prints on a TTY (pino-pretty installed), JSON when forced off', async () => {
    const tty = capture(true);
    createLogger({ destination: tty.stream }).info({ tenant: 'acme' }, 'receiver ready');
    await tick();
    expect(tty.lines()[0]).toMatch(/INFO.*receiver ready/);
    expect(() => JSON.parse(tty.lines()[0]!)).toThrow();
    const plain = capture(true);
    createLogger({ destination: plain.stream, pretty: false }).info({}, 'json please');
    await tick();
    expect(JSON.parse(plain.lines()[0]!)).toMatchObject({ msg: 'json please' });
  });
});
