/**
 * The OTLP/HTTP endpoint of bench/outbox.ts in its own process (a receiver is its own process, and
 * sharing the relay's event loop would charge the relay for the endpoint's work). Forked with IPC:
 * sends `{ url }` when listening; answers `'count'` with `{ count }` (records acknowledged).
 */
import { startTestOtlpEndpoint } from '../test/outbox/helpers/otlp-endpoint.ts';

const endpoint = await startTestOtlpEndpoint();
endpoint.countOnly = true;
process.on('message', (msg) => {
  if (msg === 'count') process.send?.({ count: endpoint.counted });
  if (msg === 'close') void endpoint.close().then(() => process.exit(0));
});
process.send?.({ url: endpoint.url });
