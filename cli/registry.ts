/** The subcommand registry of the `otel-audit` CLI. */

/** A subcommand: `run(args)` resolves with the process exit code. */
export interface Command {
  /** One line for `otel-audit --help`. */
  summary: string;
  run(args: string[]): Promise<number>;
}

/** Lazily loaded subcommands by name (lazy so `otel-audit query` does not load gRPC, and so on). */
export const commands = new Map<string, { summary: string; load: () => Promise<Command> }>();

/** Register a subcommand; `load` imports its module only when it runs. */
export function registerCommand(name: string, summary: string, load: () => Promise<Command>): void {
  commands.set(name, { summary, load });
}
