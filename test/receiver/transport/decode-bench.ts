/**
 * Decode benchmark for the OTLP logs decoders (a report, not a test):
 *   node test/receiver/transport/decode-bench.ts
 * Decodes the same 512-record realistic audit batch with the hand-rolled decoder, with protobufjs
 * (plain decode, and decode + conversion to DecodedLogs, which is what the receiver needs), and the
 * OTLP/JSON decoder; prints records/s and µs per batch. Numbers go into docs/decisions.md.
 */
import { decodeLogsJson } from '../../../receiver/otlp/json-decoder.ts';
import { decodeLogsProtobuf } from '../../../receiver/otlp/protobuf-decoder.ts';
import { createProtobufjsLogsDecoder } from '../../../receiver/otlp/protobufjs-decoder.ts';
import { auditRequestObject, encodeRequest, exportLogsRequestType } from '../helpers/otlp-fixtures.ts';

const RECORDS = 512;
const obj = auditRequestObject(RECORDS);
const bytes = encodeRequest(obj);
const type = exportLogsRequestType();
const jsonObj = type.toObject(type.fromObject(obj), { longs: String, enums: Number, bytes: String }) as any;
for (const rec of jsonObj.resourceLogs[0].scopeLogs[0].logRecords) {
  rec.traceId = Buffer.from(rec.traceId, 'base64').toString('hex');
  rec.spanId = Buffer.from(rec.spanId, 'base64').toString('hex');
}
const jsonBytes = Buffer.from(JSON.stringify(jsonObj));
const pbjs = createProtobufjsLogsDecoder();

const candidates: Array<[string, () => unknown]> = [];
function bench(name: string, fn: () => unknown): void {
  candidates.push([name, fn]);
}

/**
 * Rounds interleave the candidates so that load from other processes on the machine hits all of
 * them alike; the best round per candidate is reported (the least disturbed measurement).
 */
function run(): void {
  for (const [, fn] of candidates) for (let i = 0; i < 100; i++) fn(); // warm-up (JIT)
  const best = new Map<string, number>();
  for (let round = 0; round < 10; round++) {
    for (const [name, fn] of candidates) {
      const start = process.hrtime.bigint();
      let n = 0;
      while (process.hrtime.bigint() - start < 200_000_000n) {
        fn();
        n++;
      }
      const perBatch = Number(process.hrtime.bigint() - start) / n;
      best.set(name, Math.min(best.get(name) ?? Infinity, perBatch));
    }
  }
  for (const [name] of candidates) {
    const ns = best.get(name)!;
    console.log(`${name.padEnd(44)} ${(ns / 1000).toFixed(0).padStart(6)} µs/batch  ${((RECORDS * 1e9) / ns / 1e6).toFixed(2).padStart(6)} M records/s`);
  }
}

console.log(`node ${process.version}, ${RECORDS} records, protobuf ${bytes.length} bytes, JSON ${jsonBytes.length} bytes`);
bench('hand-rolled protobuf → DecodedLogs', () => decodeLogsProtobuf(bytes));
bench('protobufjs decode only (message objects)', () => type.decode(bytes));
bench('protobufjs decode + convert → DecodedLogs', () => pbjs.decode(bytes));
bench('OTLP/JSON → DecodedLogs', () => decodeLogsJson(jsonBytes));
run();
