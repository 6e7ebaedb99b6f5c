/**
 * A browser-safe verifier of otel-audit proof bundles (`otel-audit.proof-bundle`, versions 1 and 2): the
 * same checks as `verifyProofBundle` of integrity/proof-bundle.ts, with the same problem kinds, but
 * built on WebCrypto (`crypto.subtle`: SHA-256 and Ed25519) and `TextEncoder` only, so it runs in the
 * console's browser bundle (no `node:` module, no Buffer). Definitions (docs/integrity.md):
 *
 * - entry hash   = SHA-256(prevHash (32 raw bytes) ‖ UTF-8(JCS(event)))       (RFC 8785 JCS)
 * - leaf hash    = SHA-256(0x00 ‖ entry hash)                                  (RFC 6962 §2.1)
 * - node hash    = SHA-256(0x01 ‖ left ‖ right)
 * - root from the audit path: RFC 9162 §2.1.3.2
 * - checkpoint   = C2SP signed note over a C2SP tlog checkpoint, Ed25519 signature lines
 *                  `— <name> base64(keyID(4) ‖ sig(64))`, keyID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pub)[:4]
 *
 * Every function is async (WebCrypto is). Nothing throws for bad input: problems are results.
 * test/console/proof-verify.test.ts checks it against the Node implementation on the docs vectors.
 */
import canonicalize from 'canonicalize';

/** Stable kinds of problems: those of integrity/proof-bundle.ts `ProofProblemKind`. */
export type BrowserProofProblemKind =
  | 'malformed-bundle'
  | 'unsupported-version'
  | 'event-modified'
  | 'leaf-index-mismatch'
  | 'malformed-checkpoint'
  | 'bad-signature'
  | 'unknown-key'
  | 'origin-mismatch'
  | 'tree-size-mismatch'
  | 'inclusion-proof-invalid'
  | 'root-mismatch'
  | 'no-webcrypto';

/** One thing wrong with a bundle. */
export interface BrowserProofProblem {
  kind: BrowserProofProblemKind;
  message: string;
  path?: string;
}

/** A bundle that verified: the checkpoint it was checked against. */
export interface BrowserProofVerified {
  ok: true;
  chainId: string;
  seq: number;
  eventId: string | undefined;
  leafIndex: number;
  treeSize: number;
  rootHash: string;
  origin: string;
  signedBy: string[];
}

/** Outcome of {@link verifyProofBundleInBrowser}. */
export type BrowserProofResult = BrowserProofVerified | { ok: false; problems: BrowserProofProblem[] };

/** A parsed verifier key `<name>+<8 hex key id>+<base64(0x01 ‖ 32-byte public key)>`. */
export interface BrowserVerifierKey {
  name: string;
  keyIdHex: string;
  publicKey: Uint8Array;
  text: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const SIGNATURE_PREFIX = '\u2014 ';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const encoder = new TextEncoder();

function subtle(): typeof globalThis.crypto.subtle | undefined {
  return globalThis.crypto?.subtle;
}

/** SHA-256 of `data` (WebCrypto). */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle()!.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
}

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of a hex string (even length, hex digits only; the caller validates). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Strict base64 decode (canonical padding), or undefined. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text) || text.length % 4 !== 0) return undefined;
  let bin: string;
  try {
    bin = atob(text);
  } catch {
    return undefined;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Canonical encoding only (as integrity/note.ts): re-encoding must give the same text.
  return btoa(bin) === text ? out : undefined;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The entry hash of chain format `version`, as hex (docs/integrity.md "Entry hash"): format 1 is
 * `SHA-256(prevHash ‖ UTF-8(JCS(event)))`, format 2 (what receivers write now)
 * `SHA-256(prevHash ‖ SHA-256(UTF-8(JCS(event))))`.
 */
export async function entryHash(prevHashHex: string, event: unknown, version: 1 | 2 = 2): Promise<string> {
  const json = canonicalize(event);
  if (json === undefined) throw new Error('event is not serializable');
  const body = encoder.encode(json);
  const tail = version === 2 ? await sha256(body) : body;
  return toHex(await sha256(concat(fromHex(prevHashHex), tail)));
}

/** RFC 6962 leaf hash `SHA-256(0x00 ‖ leaf)`. */
export function leafHash(leaf: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(new Uint8Array([0]), leaf));
}

/** RFC 6962 node hash `SHA-256(0x01 ‖ left ‖ right)`. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(new Uint8Array([1]), left, right));
}

/** RFC 9162 §2.1.3.2: the root from a leaf hash and its audit path, or why it cannot be computed. */
export async function rootFromInclusionProof(
  index: number,
  size: number,
  leaf: Uint8Array,
  path: Uint8Array[],
): Promise<{ ok: true; root: Uint8Array } | { ok: false; reason: string }> {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || size < 0)
    return { ok: false, reason: `leaf index ${index} and tree size ${size} must be non-negative integers` };
  if (index >= size) return { ok: false, reason: `leaf index ${index} is not below tree size ${size}` };
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0)
      return { ok: false, reason: `inclusion path is too long for leaf ${index} of tree size ${size} (${path.length} elements)` };
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0)
    return { ok: false, reason: `inclusion path is too short for leaf ${index} of tree size ${size} (${path.length} elements)` };
  return { ok: true, root: r };
}

function validKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\u0085]/u.test(name) && !/[\u0000-\u001f\u007f]/.test(name);
}

/** Key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] as 8 hex digits. */
export async function keyIdHex(name: string, publicKey: Uint8Array): Promise<string> {
  return toHex((await sha256(concat(encoder.encode(name), new Uint8Array([0x0a, 0x01]), publicKey))).subarray(0, 4));
}

/**
 * Parse a verifier key string; the error result says which part is wrong (as integrity/note.ts
 * `parseVerifierKey`, including the key ID check).
 */
export async function parseVerifierKeyInBrowser(
  text: string,
): Promise<{ ok: true; key: BrowserVerifierKey } | { ok: false; reason: string }> {
  const trimmed = text.trim();
  if (trimmed.startsWith('PRIVATE+KEY+')) return { ok: false, reason: 'this is a private signer key; paste the public verifier key' };
  const first = trimmed.indexOf('+');
  const second = first < 0 ? -1 : trimmed.indexOf('+', first + 1);
  if (second < 0) return { ok: false, reason: 'expected "<name>+<key id>+<base64 key>"' };
  const name = trimmed.slice(0, first);
  const id = trimmed.slice(first + 1, second);
  const key = decodeBase64(trimmed.slice(second + 1));
  if (!validKeyName(name)) return { ok: false, reason: `bad key name "${name}"` };
  if (!/^[0-9a-f]{8}$/.test(id)) return { ok: false, reason: `key ID must be 8 lower-case hex digits, got "${id}"` };
  if (key === undefined) return { ok: false, reason: 'key is not valid base64' };
  if (key.length === 0 || key[0] !== 0x01) return { ok: false, reason: 'unknown signature algorithm; only Ed25519 (0x01) is supported' };
  if (key.length !== 33) return { ok: false, reason: `Ed25519 public key must be 32 bytes, got ${key.length - 1}` };
  if (!subtle()) return { ok: false, reason: 'WebCrypto is not available (the console needs a secure context: https or localhost)' };
  const publicKey = key.subarray(1);
  const expected = await keyIdHex(name, publicKey);
  if (expected !== id) return { ok: false, reason: `key ID ${id} does not match the key (expected ${expected})` };
  return { ok: true, key: { name, keyIdHex: id, publicKey, text: trimmed } };
}

/** The checkpoint origin of a chain id `<tenant>/<instance>` (integrity/checkpoint.ts `checkpointOrigin`). */
export function checkpointOrigin(chainId: string, prefix = 'otel-audit'): string {
  const cut = chainId.lastIndexOf('/');
  if (cut <= 0 || cut === chainId.length - 1) return `${prefix}/${encodeURIComponent(chainId)}`;
  return `${prefix}/${encodeURIComponent(chainId.slice(cut + 1))}/${encodeURIComponent(chainId.slice(0, cut))}`;
}

interface ParsedSignature {
  name: string;
  keyIdHex: string;
  signature: Uint8Array;
}

/** Parse a signed note strictly (C2SP signed-note); no signature is checked here. */
function parseNote(msg: string): { ok: true; text: string; signatures: ParsedSignature[] } | { ok: false; reason: string } {
  const bad = /[\u0000-\u0009\u000b-\u001f]/.exec(msg);
  if (bad) return { ok: false, reason: `note contains a control character at offset ${bad.index} (only newline is allowed)` };
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) return { ok: false, reason: 'note has no blank line separating the text from the signatures' };
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (block.length === 0) return { ok: false, reason: 'note has no signature lines' };
  if (!block.endsWith('\n')) return { ok: false, reason: 'the last signature line does not end with a newline' };
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > 100) return { ok: false, reason: `note has ${lines.length} signature lines; at most 100 are accepted` };
  const signatures: ParsedSignature[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith(SIGNATURE_PREFIX)) return { ok: false, reason: `signature line ${i + 1} does not start with "— "` };
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) return { ok: false, reason: `signature line ${i + 1} has no space between key name and signature` };
    const name = rest.slice(0, space);
    const raw = decodeBase64(rest.slice(space + 1));
    if (!validKeyName(name)) return { ok: false, reason: `signature line ${i + 1} has an invalid key name "${name}"` };
    if (raw === undefined) return { ok: false, reason: `signature line ${i + 1} signature is not valid base64` };
    if (raw.length < 5) return { ok: false, reason: `signature line ${i + 1} signature is too short (${raw.length} bytes)` };
    signatures.push({ name, keyIdHex: toHex(raw.subarray(0, 4)), signature: raw.subarray(4) });
  }
  return { ok: true, text, signatures };
}

/** Parse the checkpoint text (C2SP tlog-checkpoint). */
function parseCheckpointText(
  text: string,
): { ok: true; origin: string; treeSize: number; rootHash: string } | { ok: false; reason: string } {
  if (!text.endsWith('\n')) return { ok: false, reason: 'checkpoint text does not end with a newline' };
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    return { ok: false, reason: `checkpoint needs at least 3 lines (origin, tree size, root hash), has ${lines.length}` };
  const [origin, sizeText, rootText, ...ext] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) return { ok: false, reason: 'checkpoint line 1: origin is empty' };
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText)))
    return { ok: false, reason: `checkpoint line 2: tree size "${sizeText.slice(0, 40)}" is not a decimal number` };
  const root = /^[A-Za-z0-9+/]{43}=$/.test(rootText) ? decodeBase64(rootText) : undefined;
  if (root === undefined || root.length !== 32)
    return { ok: false, reason: `checkpoint line 3: root hash "${rootText.slice(0, 60)}" is not the base64 of 32 bytes` };
  if (ext.some((l) => l.length === 0)) return { ok: false, reason: 'checkpoint extension lines must not be empty' };
  return { ok: true, origin, treeSize: Number(sizeText), rootHash: toHex(root) };
}

async function ed25519Verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return false;
  try {
    const key = await subtle()!.importKey('raw', publicKey as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, ['verify']);
    return await subtle()!.verify({ name: 'Ed25519' }, key, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

/**
 * Open a signed checkpoint with Go note.Open semantics: signatures by unknown keys are ignored, a
 * bad signature by a trusted key rejects the note, no trusted signature rejects it.
 */
export async function openCheckpointInBrowser(
  note: string,
  keys: ReadonlyArray<BrowserVerifierKey>,
  expectedOrigin: string | undefined,
): Promise<
  | { ok: true; origin: string; treeSize: number; rootHash: string; signedBy: string[] }
  | { ok: false; kind: BrowserProofProblemKind; reason: string }
> {
  const parsed = parseNote(note);
  if (!parsed.ok) return { ok: false, kind: 'malformed-checkpoint', reason: parsed.reason };
  const message = encoder.encode(parsed.text);
  const signedBy: string[] = [];
  for (const sig of parsed.signatures) {
    const id = `${sig.name}+${sig.keyIdHex}`;
    const matching = keys.filter((k) => k.name === sig.name && k.keyIdHex === sig.keyIdHex);
    if (matching.length === 0 || signedBy.includes(id)) continue;
    if (new Set(matching.map((k) => k.text)).size > 1)
      return { ok: false, kind: 'unknown-key', reason: `ambiguous key ${id}: two different trusted keys share this name and key ID` };
    if (!(await ed25519Verify(matching[0]!.publicKey, sig.signature, message)))
      return { ok: false, kind: 'bad-signature', reason: `invalid signature for key ${id}` };
    signedBy.push(id);
  }
  if (signedBy.length === 0) {
    const names = [...new Set(parsed.signatures.map((s) => `${s.name}+${s.keyIdHex}`))];
    return {
      ok: false,
      kind: 'unknown-key',
      reason: `note has no signature from a trusted key (signed by ${names.join(', ')}; trusted: ${keys.map((k) => `${k.name}+${k.keyIdHex}`).join(', ') || 'none'})`,
    };
  }
  const cp = parseCheckpointText(parsed.text);
  if (!cp.ok) return { ok: false, kind: 'malformed-checkpoint', reason: cp.reason };
  if (expectedOrigin !== undefined && cp.origin !== expectedOrigin)
    return { ok: false, kind: 'origin-mismatch', reason: `checkpoint origin "${cp.origin}" is not the expected "${expectedOrigin}"` };
  return { ok: true, origin: cp.origin, treeSize: cp.treeSize, rootHash: cp.rootHash, signedBy };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Verify a proof bundle against trusted verifier keys, in the browser: the event hashes to the entry
 * hash, the leaf index is seq − 1, the checkpoint is signed by a trusted key for the chain's origin
 * with the bundle's tree size, and the audit path leads from the leaf to the signed root. Returns
 * every problem found (kinds as integrity/proof-bundle.ts).
 */
export async function verifyProofBundleInBrowser(bundle: unknown, keys: ReadonlyArray<BrowserVerifierKey>): Promise<BrowserProofResult> {
  if (!subtle())
    return {
      ok: false,
      problems: [
        { kind: 'no-webcrypto', message: 'WebCrypto (crypto.subtle) is not available: open the console over https or from localhost' },
      ],
    };
  const problems: BrowserProofProblem[] = [];
  if (!isRecord(bundle)) return { ok: false, problems: [{ kind: 'malformed-bundle', message: 'the bundle is not a JSON object' }] };
  if (bundle.format !== 'otel-audit.proof-bundle')
    problems.push({
      kind: 'malformed-bundle',
      message: `format must be "otel-audit.proof-bundle", got ${JSON.stringify(bundle.format)}`,
      path: 'format',
    });
  if (bundle.version !== 1 && bundle.version !== 2)
    return {
      ok: false,
      problems: [
        ...problems,
        {
          kind: 'unsupported-version',
          message: `version ${JSON.stringify(bundle.version)} is not supported (this verifier reads versions 1 and 2)`,
          path: 'version',
        },
      ],
    };
  const entry = bundle.entry;
  if (!isRecord(entry))
    return {
      ok: false,
      problems: [...problems, { kind: 'malformed-bundle', message: 'entry is missing or not an object', path: 'entry' }],
    };
  if (typeof entry.chainId !== 'string' || entry.chainId === '')
    problems.push({ kind: 'malformed-bundle', message: 'entry.chainId must be a non-empty string', path: 'entry.chainId' });
  if (!Number.isSafeInteger(entry.seq) || (entry.seq as number) < 1)
    problems.push({ kind: 'malformed-bundle', message: 'entry.seq must be a positive integer', path: 'entry.seq' });
  if (typeof entry.prevHash !== 'string' || !HEX64.test(entry.prevHash))
    problems.push({ kind: 'malformed-bundle', message: 'entry.prevHash must be 64 lower-case hex digits', path: 'entry.prevHash' });
  if (typeof entry.hash !== 'string' || !HEX64.test(entry.hash))
    problems.push({ kind: 'malformed-bundle', message: 'entry.hash must be 64 lower-case hex digits', path: 'entry.hash' });
  // Version 1 bundles predate chain formats: their entries are format 1. Version 2 bundles name it.
  const chainVersion: 1 | 2 | undefined =
    bundle.version === 1
      ? entry.chainVersion === undefined
        ? 1
        : undefined
      : entry.chainVersion === 1 || entry.chainVersion === 2
        ? entry.chainVersion
        : undefined;
  if (chainVersion === undefined)
    problems.push({
      kind: 'malformed-bundle',
      message: `entry.chainVersion ${JSON.stringify(entry.chainVersion)} does not fit bundle version ${bundle.version} (version 1: absent; version 2: 1 or 2)`,
      path: 'entry.chainVersion',
    });
  if (!isRecord(bundle.event)) problems.push({ kind: 'malformed-bundle', message: 'event is missing or not an object', path: 'event' });
  const leafIndex = bundle.leafIndex as number;
  const treeSize = bundle.treeSize as number;
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0)
    problems.push({ kind: 'malformed-bundle', message: 'leafIndex must be a non-negative integer', path: 'leafIndex' });
  if (!Number.isSafeInteger(treeSize) || treeSize < 1)
    problems.push({ kind: 'malformed-bundle', message: 'treeSize must be a positive integer', path: 'treeSize' });
  const rawPath = bundle.inclusionPath;
  if (!Array.isArray(rawPath))
    problems.push({ kind: 'malformed-bundle', message: 'inclusionPath must be an array of 64-hex hashes', path: 'inclusionPath' });
  else
    rawPath.forEach((h, i) => {
      if (typeof h !== 'string' || !HEX64.test(h))
        problems.push({
          kind: 'malformed-bundle',
          message: `inclusionPath[${i}] is not 64 lower-case hex digits`,
          path: `inclusionPath[${i}]`,
        });
    });
  if (typeof bundle.checkpoint !== 'string')
    problems.push({ kind: 'malformed-bundle', message: 'checkpoint must be the signed checkpoint note text', path: 'checkpoint' });
  if (problems.length > 0) return { ok: false, problems };

  const e = entry as { chainId: string; seq: number; prevHash: string; hash: string };
  // 1. The event is what was hashed into the chain.
  let recomputed: string | undefined;
  try {
    recomputed = await entryHash(e.prevHash, bundle.event, chainVersion);
  } catch (err) {
    problems.push({ kind: 'malformed-bundle', message: `event cannot be canonicalized: ${(err as Error).message}`, path: 'event' });
  }
  if (recomputed !== undefined && recomputed !== e.hash) {
    problems.push({
      kind: 'event-modified',
      message: `${chainVersion === 2 ? 'SHA-256(prevHash ‖ SHA-256(JCS(event)))' : 'SHA-256(prevHash ‖ JCS(event))'} is ${recomputed}, but the entry hash is ${e.hash}: the event or prevHash was altered`,
      path: 'event',
    });
  }
  // 2. Position.
  if (leafIndex !== e.seq - 1)
    problems.push({
      kind: 'leaf-index-mismatch',
      message: `leafIndex ${leafIndex} does not match seq ${e.seq} (expected ${e.seq - 1})`,
      path: 'leafIndex',
    });
  // 3. The checkpoint.
  const opened = await openCheckpointInBrowser(bundle.checkpoint as string, keys, checkpointOrigin(e.chainId));
  let rootHash: string | undefined;
  let origin = '';
  let signedBy: string[] = [];
  if (!opened.ok) problems.push({ kind: opened.kind, message: opened.reason, path: 'checkpoint' });
  else {
    rootHash = opened.rootHash;
    origin = opened.origin;
    signedBy = opened.signedBy;
    if (opened.treeSize !== treeSize)
      problems.push({
        kind: 'tree-size-mismatch',
        message: `bundle treeSize ${treeSize} differs from the signed checkpoint's ${opened.treeSize}`,
        path: 'treeSize',
      });
  }
  // 4. The audit path leads from the entry hash to the signed root.
  const computed = await rootFromInclusionProof(leafIndex, treeSize, await leafHash(fromHex(e.hash)), (rawPath as string[]).map(fromHex));
  if (!computed.ok) problems.push({ kind: 'inclusion-proof-invalid', message: computed.reason, path: 'inclusionPath' });
  else if (rootHash !== undefined && !equal(computed.root, fromHex(rootHash))) {
    problems.push({
      kind: 'root-mismatch',
      message: `root computed from entry hash and inclusion path is ${toHex(computed.root)}, the signed checkpoint's root is ${rootHash}`,
      path: 'inclusionPath',
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  const ev = bundle.event as Record<string, unknown>;
  return {
    ok: true,
    chainId: e.chainId,
    seq: e.seq,
    eventId: typeof ev.eventId === 'string' ? ev.eventId : undefined,
    leafIndex,
    treeSize,
    rootHash: rootHash!,
    origin,
    signedBy,
  };
}
