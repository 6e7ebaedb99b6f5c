/**
 * The verifier keys the operator pinned in this browser (localStorage), and the choice of keys for
 * a verification: pinned keys prove authenticity; the receiver's own key only proves consistency
 * (a receiver that altered an event could also re-sign).
 */
import type { Session } from './api.ts';
import { type BrowserVerifierKey, parseVerifierKeyInBrowser } from './proof-verify.ts';

const PINNED_KEY = 'otel-audit.console.verifierKeys';

/** The pinned key strings (one per line in storage). */
export function pinnedKeyTexts(): string[] {
  return (localStorage.getItem(PINNED_KEY) ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Pin keys (validated by the caller), replacing the previous ones; an empty list unpins. */
export function setPinnedKeyTexts(keys: string[]): void {
  if (keys.length === 0) localStorage.removeItem(PINNED_KEY);
  else localStorage.setItem(PINNED_KEY, keys.join('\n'));
}

/** Keys to verify with, and whether they are the operator's own or the receiver's. */
export interface KeyChoice {
  source: 'pinned' | 'receiver' | 'none';
  keys: BrowserVerifierKey[];
  /** Keys that did not parse (shown to the operator). */
  invalid: Array<{ text: string; reason: string }>;
}

/** Pinned keys when there are any, else the receiver's. */
export async function chooseKeys(session: Session): Promise<KeyChoice> {
  const pinned = pinnedKeyTexts();
  const source = pinned.length > 0 ? 'pinned' : session.integrity.verifierKeys.length > 0 ? 'receiver' : 'none';
  const texts = source === 'pinned' ? pinned : session.integrity.verifierKeys;
  const keys: BrowserVerifierKey[] = [];
  const invalid: KeyChoice['invalid'] = [];
  for (const t of texts) {
    const parsed = await parseVerifierKeyInBrowser(t);
    if (parsed.ok) keys.push(parsed.key);
    else invalid.push({ text: t, reason: parsed.reason });
  }
  return { source, keys, invalid };
}
