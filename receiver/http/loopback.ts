/**
 * The rule for read surfaces while no auth tokens are configured: answer loopback clients only,
 * unless the operator allows otherwise. Without tokens the receiver cannot tell who asks, and audit
 * data must not become readable by anyone who can reach a port that was opened for ingest.
 */
import { isIP } from 'node:net';

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}
