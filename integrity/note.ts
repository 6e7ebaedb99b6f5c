/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, byte-compatible with Go's
 * golang.org/x/mod/sumdb/note (same key strings, same signature lines):
 *
 *   <text ending in "\n">
 *   "\n"
 *   "— <key name> <base64(key ID (4 bytes, big-endian) ‖ Ed25519 signature (64 bytes))>\n"   (one or more)
 *
 * - key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4] (signed-note "Ed25519 signatures")
 * - verifier key: `<name>+<8 hex key ID>+<base64(0x01 ‖ public key)>`
 * - signer key:   `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 ‖ 32-byte seed)>`
 *
 * The signature covers the text including its final newline, not the blank separator line. Parsing
 * is strict; key-string problems throw `AUDIT_ERR_KEY` (configuration), note problems are results.
 */
import {
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { AuditError } from '@otel-audit/core';
import { sha256 } from './merkle.ts';

/** Signature type byte of Ed25519 in the signed-note spec. */
export const ALG_ED25519 = 0x01;
/** The signature line prefix: em dash (U+2014) and a space. */
export const SIGNATURE_PREFIX = '\u2014 ';
/** At most this many signature lines are parsed (as Go's note.Open). */
export const MAX_NOTE_SIGNATURES = 100;
/** Notes larger than this (UTF-8 bytes) are rejected unparsed. */
export const MAX_NOTE_BYTES = 1 << 20;

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A party that can verify signatures of one key. */
export interface NoteVerifier {
  /** Key name (e.g. `otel-audit/host-1`). */
  readonly name: string;
  /** 32-bit key ID. */
  readonly keyId: number;
  /** Key ID as 8 lower-case hex digits. */
  readonly keyIdHex: string;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** The verifier key string `<name>+<keyid>+<base64(0x01‖pub)>`. */
  readonly verifierKey: string;
  /** True when `signature` (64 bytes, without key ID) is a valid Ed25519 signature of `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A private key able to sign notes; also its own verifier. */
export interface NoteSigner extends NoteVerifier {
  /** Ed25519 signature (64 bytes) of `message`. */
  sign(message: Uint8Array): Buffer;
  /** The signer key string `PRIVATE+KEY+…`. Secret: never log it. */
  readonly signerKey: string;
}

/** True when `name` is a valid key name: non-empty, valid UTF-16/UTF-8, no Unicode spaces, no '+'. */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    !/[\s+\u0085]/u.test(name) &&
    !hasLoneSurrogate(name) &&
    !/[\u0000-\u001f\u007f]/.test(name)
  );
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/** Key ID (signed-note §Signatures): SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4], big-endian. */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  const digest = sha256(Buffer.concat([Buffer.from(name, 'utf8'), Buffer.from([0x0a, ALG_ED25519]), publicKey]));
  return digest.readUInt32BE(0);
}

function hex8(id: number): string {
  return id.toString(16).padStart(8, '0');
}

function decodeBase64Strict(text: string): Buffer | undefined {
  if (!BASE64.test(text) || text.length % 4 !== 0) return undefined;
  const buf = Buffer.from(text, 'base64');
  return buf.toString('base64') === text ? buf : undefined;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

function makeVerifier(name: string, publicKey: Buffer): NoteVerifier {
  const keyId = ed25519KeyId(name, publicKey);
  const keyObject = publicKeyObject(publicKey);
  const verifierKey = `${name}+${hex8(keyId)}+${Buffer.concat([Buffer.from([ALG_ED25519]), publicKey]).toString('base64')}`;
  return {
    name,
    keyId,
    keyIdHex: hex8(keyId),
    publicKey,
    verifierKey,
    verify(message, signature) {
      if (signature.length !== 64) return false;
      try {
        return cryptoVerify(null, message, keyObject, signature);
      } catch {
        return false;
      }
    },
  };
}

function makeSigner(name: string, seed: Buffer): NoteSigner {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(spki.subarray(spki.length - 32));
  const verifier = makeVerifier(name, publicKey);
  const signerKey = `PRIVATE+KEY+${name}+${verifier.keyIdHex}+${Buffer.concat([Buffer.from([ALG_ED25519]), seed]).toString('base64')}`;
  return {
    ...verifier,
    signerKey,
    sign: (message) => cryptoSign(null, message, privateKey),
  };
}

/**
 * A signer from a 32-byte Ed25519 seed (RFC 8032 private key). For deterministic examples and tests
 * and for keys held elsewhere; production keys come from {@link generateNoteKeyPair}. Throws
 * `AUDIT_ERR_KEY` for an invalid name or a seed that is not 32 bytes.
 */
export function noteSignerFromSeed(name: string, seed: Uint8Array): NoteSigner {
  if (!isValidKeyName(name)) throw new AuditError('AUDIT_ERR_KEY', `invalid key name "${name}"`);
  if (seed.length !== 32) throw new AuditError('AUDIT_ERR_KEY', `Ed25519 seed must be 32 bytes, got ${seed.length}`);
  return makeSigner(name, Buffer.from(seed));
}

/**
 * Generate a new Ed25519 key pair for key name `name`. Returns the signer (private) and verifier
 * key strings in Go sumdb/note format. Throws `AUDIT_ERR_KEY` for an invalid name.
 */
export function generateNoteKeyPair(name: string): { signerKey: string; verifierKey: string; keyIdHex: string } {
  if (!isValidKeyName(name))
    throw new AuditError(
      'AUDIT_ERR_KEY',
      `invalid key name "${name}": it must be non-empty and contain no spaces, '+' or control characters`,
    );
  const { privateKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = Buffer.from(pkcs8.subarray(pkcs8.length - 32));
  const signer = makeSigner(name, seed);
  return { signerKey: signer.signerKey, verifierKey: signer.verifierKey, keyIdHex: signer.keyIdHex };
}

/** Split at the first two '+' characters (Go's chop, twice); undefined when there are fewer. */
function chop(text: string): [string, string, string] | undefined {
  const first = text.indexOf('+');
  if (first < 0) return undefined;
  const second = text.indexOf('+', first + 1);
  if (second < 0) return undefined;
  return [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
}

function keyError(what: string, detail: string): AuditError {
  return new AuditError('AUDIT_ERR_KEY', `${what}: ${detail}`);
}

/**
 * Parse a verifier key `<name>+<8 hex key ID>+<base64(0x01 ‖ 32-byte public key)>`. Throws
 * `AUDIT_ERR_KEY` naming the part that is wrong (shape, name, key ID, base64, algorithm, length,
 * key ID not matching the key).
 */
export function parseVerifierKey(text: string): NoteVerifier {
  const what = 'invalid verifier key';
  if (typeof text !== 'string') throw keyError(what, 'not a string');
  const trimmed = text.trim();
  if (trimmed.startsWith('PRIVATE+KEY+'))
    throw keyError(what, 'this is a private signer key; pass the public verifier key (`otel-audit keys generate` prints it)');
  // Split at the first two '+' only (Go's chop): base64 itself may contain '+'.
  const parts = chop(trimmed);
  if (parts === undefined) throw keyError(what, 'expected "<name>+<key id>+<base64 key>"');
  const [name, idHex, key64] = parts;
  if (!isValidKeyName(name)) throw keyError(what, `bad key name "${name}"`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw keyError(what, `key ID must be 8 lower-case hex digits, got "${idHex}"`);
  const key = decodeBase64Strict(key64);
  if (key === undefined) throw keyError(what, 'key is not valid base64');
  if (key.length === 0 || key[0] !== ALG_ED25519)
    throw keyError(
      what,
      `unknown signature algorithm ${key.length === 0 ? '(empty key)' : `0x${key[0]!.toString(16).padStart(2, '0')}`}; only Ed25519 (0x01) is supported`,
    );
  if (key.length !== 33) throw keyError(what, `Ed25519 public key must be 32 bytes, got ${key.length - 1}`);
  const publicKey = Buffer.from(key.subarray(1));
  const id = ed25519KeyId(name, publicKey);
  if (hex8(id) !== idHex) throw keyError(what, `key ID ${idHex} does not match the key (expected ${hex8(id)})`);
  return makeVerifier(name, publicKey);
}

/**
 * Parse a signer key `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 ‖ 32-byte seed)>`. Throws
 * `AUDIT_ERR_KEY` naming what is wrong; the message never contains the secret.
 */
export function parseSignerKey(text: string): NoteSigner {
  const what = 'invalid signer key';
  if (typeof text !== 'string') throw keyError(what, 'not a string');
  const trimmed = text.trim();
  if (!trimmed.startsWith('PRIVATE+KEY+')) throw keyError(what, 'must start with "PRIVATE+KEY+" (is this a verifier key?)');
  const parts = chop(trimmed.slice('PRIVATE+KEY+'.length));
  if (parts === undefined) throw keyError(what, 'expected "PRIVATE+KEY+<name>+<key id>+<base64 key>"');
  const [name, idHex, key64] = parts;
  if (!isValidKeyName(name)) throw keyError(what, `bad key name "${name}"`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw keyError(what, 'key ID must be 8 lower-case hex digits');
  const key = decodeBase64Strict(key64);
  if (key === undefined) throw keyError(what, 'key is not valid base64');
  if (key.length === 0 || key[0] !== ALG_ED25519) throw keyError(what, 'unknown signature algorithm; only Ed25519 (0x01) is supported');
  if (key.length !== 33) throw keyError(what, `Ed25519 seed must be 32 bytes, got ${key.length - 1}`);
  const signer = makeSigner(name, Buffer.from(key.subarray(1)));
  if (signer.keyIdHex !== idHex) throw keyError(what, `key ID ${idHex} does not match the key (expected ${signer.keyIdHex})`);
  return signer;
}

/**
 * A set of trusted verifier keys, looked up by (name, key ID). Several keys allow rotation: a
 * checkpoint signed by a retired key still verifies as long as its verifier key stays in the set.
 */
export interface VerifierSet {
  /** All keys in the set. */
  readonly verifiers: ReadonlyArray<NoteVerifier>;
  /** The verifier for (name, keyId), `'ambiguous'` when two distinct keys share both, or undefined. */
  find(name: string, keyId: number): NoteVerifier | 'ambiguous' | undefined;
}

/**
 * Build a {@link VerifierSet} from verifier objects or verifier key strings. Duplicate keys (same
 * string) are collapsed; throws `AUDIT_ERR_KEY` for an unparsable key string.
 */
export function createVerifierSet(keys: Iterable<NoteVerifier | string>): VerifierSet {
  const byId = new Map<string, NoteVerifier[]>();
  const all: NoteVerifier[] = [];
  for (const k of keys) {
    const v = typeof k === 'string' ? parseVerifierKey(k) : k;
    const id = `${v.name}+${v.keyIdHex}`;
    const list = byId.get(id) ?? [];
    if (list.some((x) => x.verifierKey === v.verifierKey)) continue;
    list.push(v);
    byId.set(id, list);
    all.push(v);
  }
  return {
    verifiers: all,
    find(name, keyId) {
      const list = byId.get(`${name}+${hex8(keyId)}`);
      if (list === undefined) return undefined;
      return list.length > 1 ? 'ambiguous' : list[0];
    },
  };
}

/** Anything accepted where trusted keys are expected. */
export type VerifierKeys = VerifierSet | ReadonlyArray<NoteVerifier | string>;

/** Normalize {@link VerifierKeys} to a {@link VerifierSet}. Throws `AUDIT_ERR_KEY` for a bad key string. */
export function toVerifierSet(keys: VerifierKeys): VerifierSet {
  if (!Array.isArray(keys) && typeof (keys as VerifierSet).find === 'function') return keys as VerifierSet;
  return createVerifierSet(keys as ReadonlyArray<NoteVerifier | string>);
}

/** One signature line of a note. */
export interface NoteSignature {
  /** Key name on the line. */
  name: string;
  /** The 32-bit key ID (first 4 bytes of the decoded signature). */
  keyId: number;
  /** Key ID as 8 lower-case hex digits. */
  keyIdHex: string;
  /** The signature bytes after the key ID. */
  signature: Buffer;
  /** The base64 text as on the line (key ID ‖ signature). */
  base64: string;
}

/** A syntactically valid note: its text and its signature lines, none verified yet. */
export interface ParsedNote {
  /** The signed text, including its final newline. */
  text: string;
  signatures: NoteSignature[];
}

/** Outcome of {@link parseNote}. */
export type NoteParse = { ok: true; note: ParsedNote } | { ok: false; reason: string };

function checkNoteChars(msg: string): string | undefined {
  if (hasLoneSurrogate(msg)) return 'note is not valid UTF-8 text (lone surrogate)';
  const bad = /[\u0000-\u0009\u000b-\u001f]/.exec(msg);
  if (bad)
    return `note contains a control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} at offset ${bad.index} (only newline is allowed)`;
  return undefined;
}

/**
 * Parse a signed note strictly (signed-note §Format): valid text, no control characters other than
 * newline, text separated from the signature block by the last blank line, every signature line
 * `— <valid name> <base64 of ≥ 5 bytes>`, at most {@link MAX_NOTE_SIGNATURES}. No signature is checked.
 */
export function parseNote(msg: string): NoteParse {
  if (typeof msg !== 'string') return { ok: false, reason: 'note is not a string' };
  if (Buffer.byteLength(msg, 'utf8') > MAX_NOTE_BYTES) return { ok: false, reason: `note is larger than ${MAX_NOTE_BYTES} bytes` };
  const charProblem = checkNoteChars(msg);
  if (charProblem) return { ok: false, reason: charProblem };
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) return { ok: false, reason: 'note has no blank line separating the text from the signatures' };
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (block.length === 0) return { ok: false, reason: 'note has no signature lines' };
  if (!block.endsWith('\n')) return { ok: false, reason: 'the last signature line does not end with a newline' };
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES)
    return { ok: false, reason: `note has ${lines.length} signature lines; at most ${MAX_NOTE_SIGNATURES} are accepted` };
  const signatures: NoteSignature[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const where = `signature line ${i + 1}`;
    if (!line.startsWith(SIGNATURE_PREFIX)) return { ok: false, reason: `${where} does not start with "— " (em dash U+2014 and a space)` };
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) return { ok: false, reason: `${where} has no space between key name and signature` };
    const name = rest.slice(0, space);
    const b64 = rest.slice(space + 1);
    if (!isValidKeyName(name)) return { ok: false, reason: `${where} has an invalid key name "${name}"` };
    const raw = b64.length > 0 ? decodeBase64Strict(b64) : undefined;
    if (raw === undefined) return { ok: false, reason: `${where} signature is not valid base64` };
    if (raw.length < 5) return { ok: false, reason: `${where} signature is too short (${raw.length} bytes)` };
    const keyId = raw.readUInt32BE(0);
    signatures.push({ name, keyId, keyIdHex: hex8(keyId), signature: Buffer.from(raw.subarray(4)), base64: b64 });
  }
  return { ok: true, note: { text, signatures } };
}

/** Why {@link openNote} rejected a note. */
export type NoteFailureKind = 'malformed' | 'bad-signature' | 'unknown-key' | 'ambiguous-key';

/** Outcome of {@link openNote}. */
export type NoteOpen =
  | { ok: true; text: string; verified: NoteSignature[]; unverified: NoteSignature[] }
  | { ok: false; kind: NoteFailureKind; reason: string; note?: ParsedNote };

/**
 * Parse a note and check its signatures against trusted keys, with Go note.Open semantics
 * (signed-note §Signatures): signatures of unknown keys are ignored (listed as unverified); a
 * signature by a known key that fails rejects the whole note (`bad-signature`); a note with no valid
 * signature from a known key is rejected (`unknown-key`). Repeated signatures by one key are ignored.
 */
export function openNote(msg: string, keys: VerifierKeys): NoteOpen {
  const parsed = parseNote(msg);
  if (!parsed.ok) return { ok: false, kind: 'malformed', reason: parsed.reason };
  const set = toVerifierSet(keys);
  const textBytes = Buffer.from(parsed.note.text, 'utf8');
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const sig of parsed.note.signatures) {
    const v = set.find(sig.name, sig.keyId);
    const id = `${sig.name}+${sig.keyIdHex}`;
    if (v === undefined) {
      if (!unverified.some((u) => u.name === sig.name && u.base64 === sig.base64)) unverified.push(sig);
      continue;
    }
    if (v === 'ambiguous')
      return {
        ok: false,
        kind: 'ambiguous-key',
        reason: `ambiguous key ${id}: two different trusted keys share this name and key ID`,
        note: parsed.note,
      };
    if (seen.has(id)) continue;
    seen.add(id);
    if (!v.verify(textBytes, sig.signature)) {
      return { ok: false, kind: 'bad-signature', reason: `invalid signature for key ${id}`, note: parsed.note };
    }
    verified.push(sig);
  }
  if (verified.length === 0) {
    const names = parsed.note.signatures.map((s) => `${s.name}+${s.keyIdHex}`);
    return {
      ok: false,
      kind: 'unknown-key',
      reason: `note has no signature from a trusted key (signed by ${[...new Set(names)].join(', ')}; trusted: ${set.verifiers.map((v) => `${v.name}+${v.keyIdHex}`).join(', ') || 'none'})`,
      note: parsed.note,
    };
  }
  return { ok: true, text: parsed.note.text, verified, unverified };
}

/**
 * Sign `text` (must end with a newline, no control characters other than newline, no blank-line
 * ambiguity issues for the signers' names) and return the full signed note. Existing signatures
 * (`keep`) by other keys are kept before the new ones, as Go's note.Sign. Throws
 * `AUDIT_ERR_INTEGRITY` for malformed text.
 */
export function signNote(text: string, signers: ReadonlyArray<NoteSigner>, keep: ReadonlyArray<NoteSignature> = []): string {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw new AuditError('AUDIT_ERR_INTEGRITY', 'note text must end with a newline');
  const charProblem = checkNoteChars(text);
  if (charProblem) throw new AuditError('AUDIT_ERR_INTEGRITY', charProblem);
  if (signers.length === 0) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'signNote needs at least one signer');
  const textBytes = Buffer.from(text, 'utf8');
  const newIds = new Set(signers.map((s) => `${s.name}+${s.keyIdHex}`));
  const lines: string[] = [];
  for (const sig of keep) {
    if (newIds.has(`${sig.name}+${sig.keyIdHex}`)) continue;
    lines.push(`${SIGNATURE_PREFIX}${sig.name} ${sig.base64}\n`);
  }
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw new AuditError('AUDIT_ERR_KEY', `invalid signer name "${s.name}"`);
    const id = Buffer.alloc(4);
    id.writeUInt32BE(s.keyId);
    lines.push(`${SIGNATURE_PREFIX}${s.name} ${Buffer.concat([id, s.sign(textBytes)]).toString('base64')}\n`);
  }
  return `${text}\n${lines.join('')}`;
}
