/**
 * Child-process entry of the integrity end-to-end fixture: runs the receiver (which loads chDB)
 * outside the test process, so the test process and the CLI processes it spawns can open the
 * embedded ClickHouse afterwards (chDB keeps a data path locked for the life of a process).
 * Usage: node e2e-fixture-main.ts '<options JSON>' — prints the fixture JSON as its last line.
 */
import { runIntegrityReceiver } from './e2e-helpers.ts';

const fixture = await runIntegrityReceiver(JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof runIntegrityReceiver>[0]);
// Exit only once the (possibly large) JSON is flushed: a piped stdout is asynchronous, and
// process.exit() right after write() cuts it off.
process.stdout.write(`\n${JSON.stringify(fixture)}\n`, () => process.exit(0));
