/**
 * The column-at-a-time Native codecs the ClickHouse exporter used before its row-by-row block
 * writer (`AuditNativeBlockWriter`, exporters/clickhouse/native-format.ts). No longer on any
 * exporter path; kept here as the oracle the writer must equal byte for byte (native-writer.test.ts).
 */
import type { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import { splitTypeArgs } from '../../../../exporters/clickhouse/native-format.ts';

/** Encodes one column's values (`prefix` once, then `data` when the block has rows). */
export interface ColumnCodec {
  prefix(out: ClickHouseBinaryBuffer): void;
  data(out: ClickHouseBinaryBuffer, values: ReadonlyArray<unknown>): void;
}

const HAS_ADDITIONAL_KEYS = 1 << 9;
const NEED_UPDATE_DICTIONARY = 1 << 10;

/** The codec of a ClickHouse type (the subset `audit_events` uses). */
export function codecFor(type: string): ColumnCodec {
  const noPrefix = () => {};
  if (type === 'String') {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) out.string(values[i] as string);
      },
    };
  }
  if (type === 'UInt8') {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) out.uint8(values[i] as number);
      },
    };
  }
  if (type === 'UInt64') {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) out.uint64(values[i] as number);
      },
    };
  }
  if (/^DateTime\('UTC'\)$/.test(type)) {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as string;
          const ms = Date.parse(`${v.slice(0, 10)}T${v.slice(11, 19)}Z`);
          if (Number.isNaN(ms)) throw new Error(`not a DateTime value: ${JSON.stringify(v)}`);
          out.uint32(ms / 1000);
        }
      },
    };
  }
  if (/^DateTime64\(9, 'UTC'\)$/.test(type)) {
    return {
      prefix: noPrefix,
      data(out, values) {
        // Rows of a batch share seconds: cache the seconds prefix's parse.
        let lastHead = '';
        let lastSeconds = 0n;
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as string;
          const head = v.slice(0, 19);
          if (head !== lastHead) {
            const ms = Date.parse(`${head.slice(0, 10)}T${head.slice(11)}Z`);
            if (Number.isNaN(ms) || (v.length > 19 && v[19] !== '.')) throw new Error(`not a DateTime64 value: ${JSON.stringify(v)}`);
            lastHead = head;
            lastSeconds = BigInt(ms / 1000) * 1_000_000_000n;
          }
          const frac = v.length > 20 ? Number(v.slice(20).padEnd(9, '0').slice(0, 9)) : 0;
          out.int64(lastSeconds + BigInt(frac));
        }
      },
    };
  }
  if (type === 'LowCardinality(String)') {
    return {
      prefix(out) {
        out.uint64(1); // KeysSerializationVersion::SharedDictionariesWithAdditionalKeys
      },
      data(out, values) {
        if (values.length === 0) return; // ClickHouse writes nothing for an empty LC column
        const index = new Map<string, number>([['', 0]]);
        const dict: string[] = [''];
        const keys = new Uint32Array(values.length);
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as string;
          let k = index.get(v);
          if (k === undefined) {
            k = dict.length;
            dict.push(v);
            index.set(v, k);
          }
          keys[i] = k;
        }
        const width = dict.length <= 0x100 ? 0 : dict.length <= 0x1_0000 ? 1 : 2;
        out.uint64(width | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY);
        out.uint64(dict.length);
        for (const s of dict) out.string(s);
        out.uint64(keys.length);
        if (width === 0) for (let i = 0; i < keys.length; i++) out.uint8(keys[i]!);
        else if (width === 1) for (let i = 0; i < keys.length; i++) out.uint16(keys[i]!);
        else for (let i = 0; i < keys.length; i++) out.uint32(keys[i]!);
      },
    };
  }
  const array = /^Array\((.*)\)$/.exec(type);
  if (array) {
    const element = codecFor(array[1]!);
    return {
      prefix: (out) => element.prefix(out),
      data(out, values) {
        let end = 0;
        const all: unknown[] = [];
        for (let i = 0; i < values.length; i++) {
          const arr = values[i] as ReadonlyArray<unknown>;
          end += arr.length;
          out.uint64(end);
          for (let j = 0; j < arr.length; j++) all.push(arr[j]);
        }
        element.data(out, all);
      },
    };
  }
  const map = /^Map\((.*)\)$/.exec(type);
  if (map) {
    const [k, v] = splitTypeArgs(map[1]!);
    const keyCodec = codecFor(k!);
    const valueCodec = codecFor(v!);
    return {
      // Map(K, V) = Array(Tuple(K, V)): the tuple's prefix is its elements' prefixes in order.
      prefix(out) {
        keyCodec.prefix(out);
        valueCodec.prefix(out);
      },
      data(out, values) {
        let end = 0;
        const keys: string[] = [];
        const vals: string[] = [];
        for (let i = 0; i < values.length; i++) {
          const m = values[i] as Record<string, string>;
          for (const key in m) {
            keys.push(key);
            vals.push(m[key]!);
          }
          end = keys.length;
          out.uint64(end);
        }
        keyCodec.data(out, keys);
        valueCodec.data(out, vals);
      },
    };
  }
  throw new Error(`no Native codec for ClickHouse type ${type}`);
}
