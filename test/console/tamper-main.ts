/**
 * Child process of the console test: alters one stored event in a STOPPED receiver's embedded
 * ClickHouse (chDB binds one engine per data path per process, so this runs in its own process and
 * exits, releasing the path). Usage: node tamper-main.ts <dataDir> <eventId> <new actor id>
 */
import { openClickHouse, parseClickHouseConfig } from '../../exporters/clickhouse/index.ts';

const [dataDir, eventId, actor] = process.argv.slice(2);
if (!dataDir || !eventId || !actor) throw new Error('usage: tamper-main.ts <dataDir> <eventId> <actor>');
const ch = openClickHouse(parseClickHouseConfig({ dataDir }));
try {
  await ch.client.command({
    query: 'ALTER TABLE otel_audit.audit_events UPDATE ActorId = {actor:String} WHERE EventId = {id:String} SETTINGS mutations_sync = 2',
    query_params: { actor, id: eventId },
  });
  const rs = await ch.client.query({
    query: 'SELECT ActorId FROM otel_audit.audit_events WHERE EventId = {id:String}',
    query_params: { id: eventId },
    format: 'JSONEachRow',
  });
  process.stdout.write(`${JSON.stringify(await rs.json())}\n`);
} finally {
  await ch.close();
}
