import { describe, expect, it } from 'vitest';
import { createNativeBuilder, type NativeBuilder, type NativeBuildRequest } from '../../../exporters/clickhouse/native-build.ts';
import { PayloadPacker } from '../../../receiver/wal/packed-payloads.ts';
import { makeEntries } from './fixtures.ts';

/** Build `req` with `builder`; the chunks' bytes in order. */
function build(builder: NativeBuilder, req: NativeBuildRequest): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    builder.build(req, {
      plan: () => {},
      chunk: (c) => chunks.push(Buffer.from(c.bytes!)),
      done: () => resolve(chunks),
      fail: reject,
    });
  });
}

describe('WAL batches in shared memory', () => {
  it('reach the Native builder thread without a copy and build the same blocks as in the calling thread', async () => {
    const packer = new PayloadPacker();
    packer.reset(1 << 10); // smaller than the batch: growing keeps the buffer shared
    for (const e of makeEntries({ count: 3000 })) packer.add(Buffer.from(JSON.stringify(e)));
    const payloads = packer.finish();
    expect(payloads.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(payloads.ends.buffer).toBeInstanceOf(SharedArrayBuffer);
    const before = Buffer.from(payloads.data);

    const worker = createNativeBuilder();
    try {
      const req: NativeBuildRequest = { payloads, chunkRows: 1000 };
      const viaWorker = await build(worker, req);
      const inline = await build(createNativeBuilder({ inline: true }), req);
      expect(viaWorker).toHaveLength(3);
      expect(viaWorker).toEqual(inline);
      // The batch is the reader's to reuse afterwards: the worker only read it.
      expect(Buffer.from(payloads.data).equals(before)).toBe(true);
    } finally {
      await worker.close();
    }
  });
});
