/**
 * Adding key-value metadata to a finished Parquet file, for files written by an encoder that cannot
 * take custom metadata (ClickHouse's Parquet writer, which chDB runs, has no setting for it).
 *
 * A Parquet file ends with `<FileMetaData><uint32 LE length of it>PAR1`; FileMetaData is a Thrift
 * struct in the compact protocol (parquet.thrift), and `key_value_metadata` is its field 5,
 * `list<KeyValue>` with `KeyValue { 1: required string key; 2: optional string value }`. A compact
 * struct is a sequence of fields closed by a STOP byte (0x00), and a field header may name its id
 * explicitly ("long form": type nibble with a zero delta, then the id as a zigzag varint), so a
 * field can follow fields with higher ids. The footer is therefore extended by dropping the final
 * STOP, appending field 5 in long form, and closing the struct again; nothing else of the file
 * moves (data page offsets stay valid), and the new length replaces the old one.
 */

const PAR1 = Buffer.from('PAR1', 'latin1');
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

function varint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

function binary(out: number[], s: string): void {
  const b = Buffer.from(s, 'utf8');
  varint(out, b.length);
  for (const x of b) out.push(x);
}

/**
 * Return a copy of `parquet` whose footer also carries `kv` as key-value metadata.
 * The footer must not have key-value metadata already (a second field 5 would shadow the first for
 * most readers): callers check with `readParquetFooter` first.
 * @throws Error when the bytes are not a Parquet file.
 */
export function appendKeyValueMetadata(parquet: Uint8Array, kv: Record<string, string>): Uint8Array {
  const buf = Buffer.from(parquet.buffer, parquet.byteOffset, parquet.byteLength);
  if (buf.length < 12 || !buf.subarray(0, 4).equals(PAR1) || !buf.subarray(buf.length - 4).equals(PAR1))
    throw new Error('not a Parquet file');
  const footerLength = buf.readUInt32LE(buf.length - 8);
  const footerStart = buf.length - 8 - footerLength;
  if (footerStart < 4) throw new Error('Parquet footer length out of range');
  if (buf[buf.length - 9] !== 0) throw new Error('Parquet footer does not end with a Thrift STOP');
  const entries = Object.entries(kv);
  const field: number[] = [];
  // Field header, long form: (delta 0 << 4) | LIST, then the field id 5 as a zigzag varint (10).
  field.push(T_LIST);
  varint(field, 5 << 1);
  // List header: size and element type (short form below 15 elements).
  if (entries.length < 15) field.push((entries.length << 4) | T_STRUCT);
  else {
    field.push(0xf0 | T_STRUCT);
    varint(field, entries.length);
  }
  for (const [key, value] of entries) {
    field.push((1 << 4) | T_BINARY); // field 1 (delta 1): key
    binary(field, key);
    field.push((1 << 4) | T_BINARY); // field 2 (delta 1): value
    binary(field, value);
    field.push(0); // STOP of KeyValue
  }
  field.push(0); // STOP of FileMetaData
  const newFooterLength = footerLength - 1 + field.length;
  const out = Buffer.allocUnsafe(buf.length - 1 + field.length);
  buf.copy(out, 0, 0, buf.length - 9); // everything up to (not including) the old STOP
  let pos = buf.length - 9;
  for (const x of field) out[pos++] = x;
  out.writeUInt32LE(newFooterLength, pos);
  PAR1.copy(out, pos + 4);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
