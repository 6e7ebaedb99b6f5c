/** Small helpers shared by the SDK tests. */

import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Context, type ContextManager, context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { AuditEventInput } from '@otel-audit/schema';

/** A fresh temporary directory (removed by the returned cleanup). */
export function tempDir(prefix = 'otel-audit-sdk-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A minimal AsyncLocalStorage context manager (what @opentelemetry/context-async-hooks provides),
 * so that `context.with()` makes a span context active across awaits in tests.
 */
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}

let installed = false;
/** Install the test context manager globally (once per process). */
export function installContextManager(): void {
  if (installed) return;
  installed = true;
  context.setGlobalContextManager(new AlsContextManager());
}

/** A minimal valid event input (actor and tenant given). */
export function sampleEvent(overrides: Record<string, unknown> = {}): AuditEventInput {
  // Overrides may be deliberately invalid (tests of validation), hence the cast.
  return {
    action: 'grant.issue',
    outcome: 'success',
    actor: { id: 'u-1', type: 'user' },
    tenant: { id: 'acme' },
    ...overrides,
  } as AuditEventInput;
}

/** Resolve when `predicate()` holds (polled every 10 ms); reject after `timeoutMillis`. */
export async function until(predicate: () => boolean, timeoutMillis = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('until: condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
