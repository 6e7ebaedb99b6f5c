/**
 * Benchmark: the OTLP logs decoders in-process (moved from test/receiver/transport/decode-bench.ts).
 * Decodes the same 512-record realistic audit batch with the hand-rolled protobuf decoder, with
 * protobufjs (plain decode, and decode + conversion to DecodedLogs, which is what the receiver
 * needs), and the OTLP/JSON decoder. Rounds interleave the candidates so that load from other
 * processes hits all of them alike; the best round per candidate is reported (the least disturbed).
 */
import { decodeLogsJson } from '../receiver/otlp/json-decoder.ts';
import { decodeLogsProtobuf } from '../receiver/otlp/protobuf-decoder.ts';
import { auditRequestObject, encodeRequest, encodeRequestJson, exportLogsRequestType } from '../test/receiver/helpers/otlp-fixtures.ts';
import { createProtobufjsLogsDecoder } from '../test/receiver/helpers/protobufjs-decoder.ts';

/** Options of {@link run}. */
export interface DecodeBenchOptions {
  quick?: boolean;
  tiny?: boolean;
}

/** Result of {@link run}. */
export interface DecodeBenchResult {
  scenario: 'decode';
  records: number;
  protobufBytes: number;
  jsonBytes: number;
  decoders: Array<{ name: string; microsPerBatch: number; recordsPerSecond: number }>;
}

/** Run the benchmark (see the module comment). */
export async function run(options: DecodeBenchOptions = {}): Promise<DecodeBenchResult> {
  const records = 512;
  const obj = auditRequestObject(records);
  const bytes = encodeRequest(obj);
  const jsonBytes = encodeRequestJson(obj);
  const type = exportLogsRequestType();
  const pbjs = createProtobufjsLogsDecoder();
  const candidates: Array<[string, () => unknown]> = [
    ['hand-rolled protobuf → DecodedLogs', () => decodeLogsProtobuf(bytes)],
    ['protobufjs decode only (message objects)', () => type.decode(bytes)],
    ['protobufjs decode + convert → DecodedLogs', () => pbjs.decode(bytes)],
    ['OTLP/JSON → DecodedLogs', () => decodeLogsJson(jsonBytes)],
  ];
  const rounds = options.tiny ? 1 : options.quick ? 3 : 10;
  const roundNanos = BigInt(options.tiny ? 20_000_000 : 200_000_000);
  for (const [, fn] of candidates) for (let i = 0; i < (options.tiny ? 5 : 100); i++) fn(); // JIT warm-up
  const best = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of candidates) {
      const start = process.hrtime.bigint();
      let n = 0;
      while (process.hrtime.bigint() - start < roundNanos) {
        fn();
        n++;
      }
      const perBatch = Number(process.hrtime.bigint() - start) / n;
      best.set(name, Math.min(best.get(name) ?? Infinity, perBatch));
      // Let timers and I/O of the runner breathe between candidates.
      await new Promise((r) => setImmediate(r));
    }
  }
  return {
    scenario: 'decode',
    records,
    protobufBytes: bytes.length,
    jsonBytes: jsonBytes.length,
    decoders: candidates.map(([name]) => {
      const ns = best.get(name)!;
      return { name, microsPerBatch: Math.round(ns / 100) / 10, recordsPerSecond: Math.round((records * 1e9) / ns) };
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick') }), null, 2));
}
