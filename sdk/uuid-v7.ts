/**
 * RFC 9562 UUID version 7 generator: 48-bit Unix millisecond timestamp, then 74 random bits.
 * Ids from one process are strictly increasing (RFC 9562 §6.2 method 1: the 12-bit `rand_a` field
 * is a counter seeded randomly each millisecond), so events recorded in order sort in order, which
 * keeps the receiver's dedupe index and ClickHouse's primary key append-friendly.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 16 * 512;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

let lastMillis = -1;
let counter = 0;

function randomBytes10(): number {
  // Refill the pool in bulk: one randomFillSync call per 512 ids instead of one per id.
  if (poolOffset + 10 > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += 10;
  return at;
}

/**
 * A new UUIDv7 in lower-case canonical form, e.g. `01936f6e-8a8b-7c3d-9e4f-0123456789ab`.
 * Monotonic within the process even when the wall clock steps back (the last timestamp is reused
 * and the counter advances; on counter overflow the timestamp is advanced by 1 ms).
 */
export function uuidv7(): string {
  let millis = Date.now();
  const at = randomBytes10();
  if (millis > lastMillis) {
    lastMillis = millis;
    // Seed the counter in the lower half of its range so there is room to increment.
    counter = ((pool[at]! << 8) | pool[at + 1]!) & 0x7ff;
  } else {
    counter++;
    if (counter > 0xfff) {
      lastMillis++;
      counter = 0;
    }
    millis = lastMillis;
  }
  const b = new Array<string>(16);
  // 48-bit big-endian timestamp. Math on numbers: 2^48 fits in a double exactly.
  const high = Math.floor(millis / 2 ** 16);
  const low = millis % 2 ** 16;
  b[0] = HEX[(high >>> 24) & 0xff]!;
  b[1] = HEX[(high >>> 16) & 0xff]!;
  b[2] = HEX[(high >>> 8) & 0xff]!;
  b[3] = HEX[high & 0xff]!;
  b[4] = HEX[(low >>> 8) & 0xff]!;
  b[5] = HEX[low & 0xff]!;
  b[6] = HEX[0x70 | ((counter >>> 8) & 0x0f)]!;
  b[7] = HEX[counter & 0xff]!;
  b[8] = HEX[0x80 | (pool[at + 2]! & 0x3f)]!;
  for (let i = 9; i < 16; i++) b[i] = HEX[pool[at + i - 6]!]!;
  return `${b[0]}${b[1]}${b[2]}${b[3]}-${b[4]}${b[5]}-${b[6]}${b[7]}-${b[8]}${b[9]}-${b[10]}${b[11]}${b[12]}${b[13]}${b[14]}${b[15]}`;
}

/** Unix milliseconds encoded in a UUIDv7 (its first 48 bits). */
export function uuidv7Millis(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
