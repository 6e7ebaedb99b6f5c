/**
 * Worker thread of {@link withParallelEntryHashes} (test/integrity/helpers/parallel-hash.ts): receives a JSON
 * batch `[[prevHashHex, event, chainVersion], …]` and answers with the recomputed entry hashes, in order, or
 * `null` for an entry that cannot be hashed (the verifier then hashes it itself and reports it).
 */
import { parentPort } from 'node:worker_threads';
import type { AuditEvent } from '@otel-audit/schema';
import { parseChainVersion } from '../../../integrity/chain-hash.ts';
import { fastEntryHash } from '../../../integrity/entry-hash.ts';

parentPort?.on('message', (message: { id: number; batch: string }) => {
  const items = JSON.parse(message.batch) as Array<[string, AuditEvent, unknown]>;
  const hashes = items.map(([prev, event, chainVersion]) => {
    const version = parseChainVersion(chainVersion);
    if (version === undefined) return null; // the verifier reports the unknown version itself
    try {
      return fastEntryHash(prev, event, version);
    } catch {
      return null;
    }
  });
  parentPort!.postMessage({ id: message.id, hashes });
});
