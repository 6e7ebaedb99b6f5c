/**
 * Sequential, buffered reading of WAL records from a segment file: a fixed-size window is read with
 * positioned reads and records are parsed out of it, so reading a segment of any size needs only
 * about one window of memory (plus the largest record).
 */
import { type ParseRecordResult, parseRecord, RECORD_HEADER_BYTES } from './format.ts';
import { readAt } from './fs-util.ts';

/** Result of {@link FrameReader.next}. */
export type FrameReadResult = ParseRecordResult | { kind: 'end' };

/** Reads records one by one from `fd`, starting at byte `offset`, never past a caller-given limit. */
export class FrameReader {
  private readonly fd: number;
  private buf: Buffer;
  /** File offset of `buf[0]`. */
  private bufStart: number;
  private bufLen = 0;
  /** File offset of the next record. */
  offset: number;

  constructor(fd: number, offset: number, windowBytes = 1 << 20) {
    this.fd = fd;
    this.offset = offset;
    this.bufStart = offset;
    this.buf = Buffer.allocUnsafe(windowBytes);
  }

  /**
   * Parse the record at `offset` without reading past `limit` (a file offset). `end` when
   * `offset >= limit`; `short` when the bytes up to `limit` hold only part of a record. A returned
   * record's payload is a view that stays valid until the next call. Advances past a good record only.
   */
  async next(limit: number): Promise<FrameReadResult> {
    if (this.offset >= limit) return { kind: 'end' };
    for (;;) {
      const rel = this.offset - this.bufStart;
      const r = parseRecord(this.buf, rel, this.bufLen);
      if (r.kind === 'record') {
        this.offset += r.record.size;
        return r;
      }
      if (r.kind === 'bad') return r;
      // Short: fetch more, unless the file (up to the limit) has no more.
      const have = this.bufLen - rel;
      const available = limit - this.offset;
      if (available < r.needBytes || have >= available) return { kind: 'short', needBytes: r.needBytes };
      await this.refill(Math.max(r.needBytes, RECORD_HEADER_BYTES), limit);
    }
  }

  private async refill(need: number, limit: number): Promise<void> {
    const rel = this.offset - this.bufStart;
    const keep = this.bufLen - rel;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, rel, this.bufLen);
      this.buf = bigger;
    } else if (keep > 0) {
      this.buf.copy(this.buf, 0, rel, this.bufLen);
    }
    this.bufStart = this.offset;
    this.bufLen = keep;
    const want = Math.min(this.buf.length - keep, limit - (this.bufStart + keep));
    let got = 0;
    while (got < want) {
      const n = await readAt(this.fd, this.buf, keep + got, want - got, this.bufStart + keep + got);
      if (n === 0) break;
      got += n;
    }
    this.bufLen = keep + got;
  }

  /** Forget buffered bytes (call after the file changed under the buffer, e.g. truncation). */
  reset(offset: number): void {
    this.offset = offset;
    this.bufStart = offset;
    this.bufLen = 0;
  }
}
