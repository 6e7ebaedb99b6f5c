/**
 * Audit context: who is acting, for which tenant, in which request and session. Set once per
 * request (by the middleware or by hand) and read by `record()` for events recorded anywhere below,
 * across `await`s, timers and callbacks (AsyncLocalStorage).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditActor, AuditRequest, AuditTenant } from '@otel-audit/schema';

/** The fields `record()` fills from the context when an event omits them. */
export interface AuditContext {
  actor?: AuditActor;
  tenant?: AuditTenant;
  request?: AuditRequest;
  session?: { id: string };
}

/**
 * One frame per `runWithAuditContext` call. `resolve` lets a frame compute fields late (the
 * middleware resolves the actor when an event is recorded, after authentication has run).
 */
export interface Frame {
  data: AuditContext;
  resolve: (() => AuditContext) | undefined;
}

const storage = new AsyncLocalStorage<Frame>();

/**
 * Run `fn` with `ctx` as the audit context. Nested calls merge: fields of the inner `ctx` replace
 * those of the outer one, the others are inherited. Returns what `fn` returns (a promise stays a
 * promise). The context ends when `fn` and every async operation it started have finished.
 */
export function runWithAuditContext<T>(ctx: AuditContext, fn: () => T): T {
  return runWithFrame(ctx, undefined, fn);
}

/** @internal Used by the middleware: `resolve` is consulted for fields `ctx` does not have. */
export function runWithFrame<T>(ctx: AuditContext, resolve: (() => AuditContext) | undefined, fn: () => T): T {
  return runInFrame(createFrame(ctx, resolve), fn);
}

/** @internal A context frame (nested in the current one) that can be entered later. */
export function createFrame(ctx: AuditContext, resolve: (() => AuditContext) | undefined): Frame {
  const outer = storage.getStore();
  const data: AuditContext = outer ? { ...snapshot(outer), ...definedOnly(ctx) } : { ...definedOnly(ctx) };
  return { data, resolve };
}

/** @internal Run `fn` inside `frame`. */
export function runInFrame<T>(frame: Frame, fn: () => T): T {
  return storage.run(frame, fn);
}

/** @internal The context a frame holds now (late-resolved fields included, updates applied). */
export function frameContext(frame: Frame): AuditContext {
  return snapshot(frame);
}

/**
 * Change the current audit context in place (for example after authentication has identified the
 * actor). Affects every later `record()` in the same `runWithAuditContext` scope. Returns false
 * (and changes nothing) when called outside any audit context.
 */
export function updateAuditContext(patch: AuditContext): boolean {
  const frame = storage.getStore();
  if (!frame) return false;
  Object.assign(frame.data, definedOnly(patch));
  return true;
}

/** The current audit context (a copy), or undefined outside `runWithAuditContext`. */
export function getAuditContext(): AuditContext | undefined {
  const frame = storage.getStore();
  return frame ? snapshot(frame) : undefined;
}

function snapshot(frame: Frame): AuditContext {
  if (!frame.resolve) return { ...frame.data };
  let late: AuditContext = {};
  try {
    late = frame.resolve();
  } catch {
    // A failing resolver must not break record(); the event then lacks those fields and
    // validation names them.
  }
  return { ...definedOnly(late), ...frame.data };
}

function definedOnly(ctx: AuditContext): AuditContext {
  const out: AuditContext = {};
  if (ctx.actor !== undefined) out.actor = ctx.actor;
  if (ctx.tenant !== undefined) out.tenant = ctx.tenant;
  if (ctx.request !== undefined) out.request = ctx.request;
  if (ctx.session !== undefined) out.session = ctx.session;
  return out;
}
