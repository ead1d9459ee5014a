// Running the external tools of `facepipe setup` (pip, npm, strip) with bounded time and
// useful failure messages: every call has a timeout so nothing can hang forever, and a failure
// quotes the tail of the tool's output instead of a bare exit code.
import { delimiter, join } from 'node:path';
import { accessSync, constants } from 'node:fs';
import { execa } from 'execa';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Replace the environment instead of extending process.env. */
  replaceEnv?: boolean;
  timeoutMs: number;
  /** Receives each output line (stdout and stderr interleaved) while the tool runs. */
  onLine?: (line: string) => void;
}

export interface RunResult {
  ok: boolean;
  exitCode: number | undefined;
  output: string;
  /** Set when the program could not be started at all (e.g. 'ENOENT': not installed). */
  spawnError?: string;
  timedOut: boolean;
}

/** Runs a program and never throws: callers decide what a failure means and what to advise. */
export async function run(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const sub = execa(file, args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: !opts.replaceEnv,
    timeout: opts.timeoutMs,
    all: true,
    reject: false,
    stdin: 'ignore',
  });
  if (opts.onLine && sub.all) {
    let pending = '';
    const onLine = opts.onLine;
    sub.all.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split(/\r?\n|\r/);
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) onLine(l);
    });
    sub.all.on('end', () => { if (pending.trim()) onLine(pending); });
  }
  const r = await sub;
  const spawnCode = r.failed && r.exitCode === undefined && !r.timedOut ? (r.code ?? 'spawn failed') : undefined;
  return {
    ok: !r.failed,
    exitCode: r.exitCode,
    output: typeof r.all === 'string' ? r.all : '',
    timedOut: r.timedOut,
    ...(spawnCode ? { spawnError: spawnCode } : {}),
  };
}

/** Last lines of a tool's output, for error messages. */
export function tail(output: string, lines = 15): string {
  return output.trim().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
}

/** Describes a failed run in one sentence plus the output tail. */
export function describeFailure(what: string, r: RunResult, timeoutMs: number): string {
  if (r.spawnError) return `${what}: could not start (${r.spawnError})`;
  if (r.timedOut) return `${what}: timed out after ${Math.round(timeoutMs / 1000)} s\n${tail(r.output)}`;
  return `${what}: exit code ${r.exitCode}\n${tail(r.output)}`;
}

/** Absolute path of an executable on PATH, or undefined (like `command -v`). */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
