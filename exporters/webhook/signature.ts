/**
 * Request signing of the webhook exporter, in the style of Stripe's and GitHub's webhooks:
 *
 *   Otel-Audit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>
 *
 * The timestamp is inside the signed text, so an endpoint can refuse replays older than its
 * tolerance; the `v1=` scheme name leaves room for a later algorithm (several `v1=` entries may
 * appear during a key rotation — an endpoint accepts the request when any of them matches).
 * `Idempotency-Key` identifies the batch (see docs/webhook.md, "Delivery"): a retry carries the same
 * key and the same body, with a fresh `t` and signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying the signature. */
export const SIGNATURE_HEADER = 'Otel-Audit-Signature';
/** Header carrying the batch's idempotency key. */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** Hex HMAC-SHA256 of `"<t>.<body>"`. */
export function signatureHex(secret: string | Uint8Array, timestampSeconds: number, body: string | Uint8Array): string {
  const h = createHmac('sha256', secret);
  h.update(`${timestampSeconds}.`);
  h.update(body);
  return h.digest('hex');
}

/** The `Otel-Audit-Signature` value for `body` signed at `timestampSeconds`. */
export function signatureHeader(secret: string | Uint8Array, timestampSeconds: number, body: string | Uint8Array): string {
  return `t=${timestampSeconds},v1=${signatureHex(secret, timestampSeconds, body)}`;
}

/** Result of {@link verifySignature}. */
export type SignatureCheck = { ok: true; timestampSeconds: number } | { ok: false; reason: string };

/**
 * Check an `Otel-Audit-Signature` header against the raw body, for endpoint implementers (and the
 * tests). Constant-time comparison; `toleranceSeconds` bounds the age of `t` (default 300).
 */
export function verifySignature(
  secret: string | Uint8Array,
  header: string | undefined,
  body: string | Uint8Array,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): SignatureCheck {
  if (header === undefined || header === '') return { ok: false, reason: 'no signature header' };
  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `malformed element "${part}"` };
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't') t = /^\d{1,12}$/.test(v) ? Number(v) : Number.NaN;
    else if (k === 'v1') candidates.push(v);
  }
  if (t === undefined || !Number.isFinite(t)) return { ok: false, reason: 'missing or malformed t=' };
  if (candidates.length === 0) return { ok: false, reason: 'no v1= signature' };
  const tolerance = options.toleranceSeconds ?? 300;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > tolerance) return { ok: false, reason: `timestamp ${t} is outside the tolerance of ${tolerance} s` };
  const expected = Buffer.from(signatureHex(secret, t, body), 'hex');
  for (const c of candidates) {
    if (!/^[0-9a-f]{64}$/i.test(c)) continue;
    if (timingSafeEqual(expected, Buffer.from(c, 'hex'))) return { ok: true, timestampSeconds: t };
  }
  return { ok: false, reason: 'signature mismatch' };
}
