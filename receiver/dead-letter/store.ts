/**
 * The dead-letter store: every record the pipeline rejects, with the reason, time, transport and
 * the original record as JSON, in NDJSON files under `<dataDir>/dead-letters/`.
 *
 * Bounded: files rotate at `maxFileBytes` and only the newest `maxFiles` are kept (the oldest
 * letters go first). Writes are appended in the background and coalesced; they are not fsync'd —
 * the producer already got the rejection in the OTLP answer, the store is for inspection
 * (`otel-audit dead-letters`), so it must never slow down or fail ingest.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type Logger, silentLogger } from '@otel-audit/core';

/** One dead letter as stored (one NDJSON line). */
export interface DeadLetter {
  /** When it was rejected, RFC 3339 UTC. */
  time: string;
  transport: 'grpc' | 'http' | string;
  /** Authenticated token name, if any. */
  principal?: string;
  /** Why it was rejected (field path and message, or the rule that refused it). */
  reason: string;
  /** Stable error code, e.g. AUDIT_ERR_INVALID_EVENT or AUDIT_ERR_FORBIDDEN. */
  code: string;
  /** Index of the record in its request (flattened over resource and scope logs). */
  recordIndex: number;
  /** The original record with its resource and scope (bigints as strings, bytes as base64). */
  record: unknown;
}

/** Options of {@link DeadLetterStore}. */
export interface DeadLetterStoreOptions {
  /** Rotate to a new file at this size (bytes). */
  maxFileBytes: number;
  /** Keep at most this many files (the oldest are deleted). */
  maxFiles: number;
}

const FILE_NAME = /^dl-(\d{8})\.ndjson$/;

/** JSON replacer for OTLP values: bigint as decimal string, bytes as base64. */
export function otlpJsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of fs.createReadStream(file)) {
    const b = chunk as Buffer;
    let i = -1;
    while ((i = b.indexOf(10, i + 1)) !== -1) n++;
  }
  return n;
}

/** Append-only, rotating, bounded store of rejected records (see the module comment). */
export class DeadLetterStore {
  readonly dir: string;
  private readonly options: DeadLetterStoreOptions;
  private files: Array<{ seq: number; lines: number }> = [];
  private currentBytes = 0;
  private queue: string[] = [];
  private writing: Promise<void> | undefined;
  /** Letters written since start (including ones later rotated away). */
  written = 0;
  /** Letters dropped because writing failed (e.g. disk full); the rejection was still answered. */
  writeErrors = 0;

  private readonly log: Logger;

  private constructor(dir: string, options: DeadLetterStoreOptions, logger: Logger) {
    this.dir = dir;
    this.options = options;
    this.log = logger;
  }

  /** Open (or create) the store in `dir`, counting the letters already there; write failures go to `logger`. */
  static async open(dir: string, options: DeadLetterStoreOptions, logger: Logger = silentLogger): Promise<DeadLetterStore> {
    const store = new DeadLetterStore(dir, options, logger);
    await fsp.mkdir(dir, { recursive: true });
    const names = (await fsp.readdir(dir)).filter((n) => FILE_NAME.test(n)).sort();
    for (const n of names) store.files.push({ seq: Number(FILE_NAME.exec(n)![1]), lines: await countLines(path.join(dir, n)) });
    const last = names.at(-1);
    if (last) store.currentBytes = (await fsp.stat(path.join(dir, last))).size;
    return store;
  }

  /** Letters currently stored (after rotation). */
  get count(): number {
    let n = 0;
    for (const f of this.files) n += f.lines;
    return n;
  }

  private fileName(seq: number): string {
    return path.join(this.dir, `dl-${String(seq).padStart(8, '0')}.ndjson`);
  }

  /** Queue letters for writing (never throws, never waits). */
  add(letters: readonly DeadLetter[]): void {
    for (const l of letters) {
      let line: string;
      try {
        line = JSON.stringify(l, otlpJsonReplacer);
      } catch {
        line = JSON.stringify({ ...l, record: '(record not serializable)' });
      }
      this.queue.push(line);
    }
    if (!this.writing) this.writing = this.drain().finally(() => (this.writing = undefined));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const lines = this.queue;
      this.queue = [];
      try {
        let cur = this.files.at(-1);
        if (!cur || this.currentBytes >= this.options.maxFileBytes) {
          cur = { seq: (cur?.seq ?? 0) + 1, lines: 0 };
          this.files.push(cur);
          this.currentBytes = 0;
          while (this.files.length > this.options.maxFiles) {
            const old = this.files.shift()!;
            await fsp.rm(this.fileName(old.seq), { force: true });
          }
        }
        const text = lines.join('\n') + '\n';
        await fsp.appendFile(this.fileName(cur.seq), text);
        this.currentBytes += Buffer.byteLength(text);
        cur.lines += lines.length;
        this.written += lines.length;
      } catch (err) {
        // Counted in status (writeErrors); the rejections themselves were already answered.
        this.writeErrors += lines.length;
        this.log.warn({ err, dir: this.dir, letters: lines.length }, 'dead letters not written');
      }
    }
  }

  /** Resolves when every queued letter is written. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }
}

/** Options of {@link readDeadLetters}. */
export interface ReadDeadLettersOptions {
  /** Return at most this many (the newest). Default 100. */
  limit?: number;
  /** Only letters at or after this time (RFC 3339). */
  since?: string;
}

/**
 * Read dead letters from `<dataDir>/dead-letters` (what `otel-audit dead-letters` prints), oldest
 * first, at most `limit` of the newest. Works while a receiver runs (files are append-only).
 */
export async function readDeadLetters(dataDir: string, options: ReadDeadLettersOptions = {}): Promise<DeadLetter[]> {
  const dir = path.join(dataDir, 'dead-letters');
  const limit = options.limit ?? 100;
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter((n) => FILE_NAME.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: DeadLetter[] = [];
  // Newest files first, stop once enough letters are collected.
  for (const n of names.reverse()) {
    const text = await fsp.readFile(path.join(dir, n), 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    const parsed: DeadLetter[] = [];
    for (const l of lines) {
      try {
        const d = JSON.parse(l) as DeadLetter;
        if (!options.since || d.time >= options.since) parsed.push(d);
      } catch {
        // A torn last line (crash mid-append) is skipped.
      }
    }
    out.unshift(...parsed);
    if (out.length >= limit) break;
  }
  return out.slice(Math.max(0, out.length - limit));
}
