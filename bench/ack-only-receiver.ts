/**
 * The protocol floor: the real OTLP/HTTP and OTLP/gRPC transports (decode, validate the request,
 * answer) with a consumer that acknowledges at once — no pipeline, no WAL, no fsync. Run as a child
 * process (`node bench/ack-only-receiver.ts`) so it is measured exactly like the real receiver; it
 * prints one JSON line `{ "http": "http://…", "grpc": "host:port" }` when listening and stops on
 * SIGTERM.
 */

import type { DecodedLogs, IngestResult, LogsConsumer } from '../receiver/contracts.ts';
import { createGrpcServer } from '../receiver/grpc/index.ts';
import { createHttpServer } from '../receiver/http/index.ts';

/** Acknowledge every record without storing it (counts them, so the work is not optimized away). */
function ackOnlyConsumer(): LogsConsumer & { received: () => number } {
  let received = 0;
  return {
    consume(logs: DecodedLogs): Promise<IngestResult> {
      let n = 0;
      for (const rl of logs.resourceLogs) for (const sl of rl.scopeLogs) n += sl.logRecords.length;
      received += n;
      return Promise.resolve({ status: 'success', accepted: n, duplicates: 0, rejected: 0, message: '' });
    },
    received: () => received,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const consumer = ackOnlyConsumer();
  const httpServer = createHttpServer({ config: { port: 0 }, consumer });
  const grpcServer = createGrpcServer({ config: { port: 0 }, consumer });
  const httpUrl = (await httpServer.start()).url;
  const grpcTarget = (await grpcServer.start()).target;
  process.stdout.write(JSON.stringify({ http: httpUrl, grpc: grpcTarget }) + '\n');
  process.once('SIGTERM', () => {
    void Promise.all([httpServer.shutdown(), grpcServer.shutdown()]).then(() => {
      process.stderr.write(`ack-only receiver: ${consumer.received()} records acknowledged\n`);
      process.exit(0);
    });
  });
}
