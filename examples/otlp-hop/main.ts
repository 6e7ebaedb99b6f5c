/**
 * `node examples/otlp-hop/main.ts --upstream http://127.0.0.1:4318 [--port 4320] [--mode reencode]
 * [--resource-attribute k=v …]`: run the OTLP/HTTP hop in front of a receiver (see README.md).
 */
import { parseArgs } from 'node:util';
import { type HopMode, startOtlpHop } from './hop.ts';

const { values } = parseArgs({
  strict: true,
  options: {
    upstream: { type: 'string', default: 'http://127.0.0.1:4318' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '4320' },
    mode: { type: 'string', default: 'passthrough' },
    'resource-attribute': { type: 'string', multiple: true, default: [] },
  },
});
if (values.mode !== 'passthrough' && values.mode !== 'reencode') {
  process.stderr.write(`--mode must be passthrough or reencode, not ${values.mode}\n`);
  process.exit(2);
}
const resourceAttributes: Record<string, string> = {};
for (const kv of values['resource-attribute']) {
  const eq = kv.indexOf('=');
  if (eq <= 0) {
    process.stderr.write(`--resource-attribute wants key=value, got ${kv}\n`);
    process.exit(2);
  }
  resourceAttributes[kv.slice(0, eq)] = kv.slice(eq + 1);
}
const hop = await startOtlpHop({
  upstream: values.upstream,
  host: values.host,
  port: Number(values.port),
  mode: values.mode as HopMode,
  resourceAttributes,
});
process.stdout.write(`otlp-hop (${values.mode}) ${hop.url}/v1/logs → ${values.upstream}\n`);
const stop = () => void hop.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
