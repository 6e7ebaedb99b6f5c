/**
 * Transport benchmark (a report, not a test): decode-and-ack throughput of the OTLP/HTTP and
 * OTLP/gRPC servers with an in-memory consumer that acknowledges at once, i.e. the ceiling the
 * transports put on the receiver before the pipeline does any work.
 *
 *   node test/receiver/transport/transport-bench.ts [seconds=5] [connections=4]
 *
 * The servers run in this process; the load generator runs in a child process (same script,
 * `--client`), sending pre-encoded 512-record batches over several keep-alive connections.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { createGrpcServer, LOGS_EXPORT_METHOD_PATH } from '../../../receiver/grpc/index.ts';
import { createHttpServer } from '../../../receiver/http/index.ts';
import type { IngestResult, LogsConsumer } from '../../../receiver/contracts.ts';
import { auditRequestObject, encodeRequest } from '../helpers/otlp-fixtures.ts';

const RECORDS = 512;

interface ClientReport {
  transport: string;
  batches: number;
  errors: number;
  seconds: number;
  latenciesMillis: number[];
}

async function client(): Promise<void> {
  const [transport, target, secondsArg, connectionsArg] = process.argv.slice(3);
  const seconds = Number(secondsArg);
  const connections = Number(connectionsArg);
  const body = encodeRequest(auditRequestObject(RECORDS));
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  let send: () => Promise<boolean>;
  if (transport === 'http') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    send = () =>
      new Promise((resolve) => {
        const req = http.request(target!, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
        });
        req.on('error', () => resolve(false));
        req.end(body);
      });
  } else {
    const clients = Array.from({ length: connections }, (_, i) => new grpc.Client(target!, grpc.credentials.createInsecure(), { 'grpc.channel_id': i } as grpc.ChannelOptions));
    let next = 0;
    send = () =>
      new Promise((resolve) => {
        const c = clients[next++ % clients.length]!;
        c.makeUnaryRequest(LOGS_EXPORT_METHOD_PATH, (b: Buffer) => b, (b: Buffer) => b, body, (err) => resolve(!err));
      });
  }
  const start = performance.now();
  let batches = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        const ok = await send();
        latencies.push(performance.now() - t);
        if (ok) batches++;
        else errors++;
      }
    }),
  );
  const report: ClientReport = { transport: transport!, batches, errors, seconds: (performance.now() - start) / 1000, latenciesMillis: latencies };
  process.send!(report);
  process.exit(0);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const connections = Number(process.argv[3] ?? 4);
  let received = 0;
  const consumer: LogsConsumer = {
    async consume(logs): Promise<IngestResult> {
      let n = 0;
      for (const rl of logs.resourceLogs) for (const sl of rl.scopeLogs) n += sl.logRecords.length;
      received += n;
      return { status: 'success', accepted: n, duplicates: 0, rejected: 0, message: '' };
    },
  };
  const httpServer = createHttpServer({ config: { port: 0 }, consumer });
  const grpcServer = createGrpcServer({ config: { port: 0 }, consumer });
  const httpUrl = `${(await httpServer.start()).url}/v1/logs`;
  const grpcTarget = (await grpcServer.start()).target;
  console.log(`node ${process.version}; ${RECORDS}-record protobuf batches; ${connections} connections; ${seconds} s per transport; in-memory consumer (decode + ack only)`);
  for (const [transport, target] of [
    ['http', httpUrl],
    ['grpc', grpcTarget],
  ] as const) {
    received = 0;
    const cpuBefore = process.cpuUsage();
    const child = fork(new URL(import.meta.url).pathname, ['--client', transport, target, String(seconds), String(connections)], { stdio: 'inherit' });
    const report = await new Promise<ClientReport>((resolve) => child.once('message', (m) => resolve(m as ClientReport)));
    const cpu = process.cpuUsage(cpuBefore);
    const sorted = report.latenciesMillis.sort((a, b) => a - b);
    const eventsPerSecond = (report.batches * RECORDS) / report.seconds;
    console.log(
      `${transport.padEnd(5)} ${Math.round(eventsPerSecond).toLocaleString('en').padStart(10)} events/s  ` +
        `ack p50 ${percentile(sorted, 50).toFixed(1)} ms  p99 ${percentile(sorted, 99).toFixed(1)} ms  ` +
        `server CPU ${(((cpu.user + cpu.system) / 1e6 / report.seconds) * 100).toFixed(0)} %  errors ${report.errors}  (received ${received.toLocaleString('en')})`,
    );
  }
  console.log(`server peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  await httpServer.shutdown();
  await grpcServer.shutdown();
}

if (process.argv[2] === '--client') await client();
else await main();
