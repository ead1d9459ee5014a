// Runs one stage attempt in its own Node process (execa), with its own log file and an IPC channel
// for progress and metrics. The exit code is checked, and success also needs the child's explicit
// 'done': a stage that calls process.exit(0) half-way is not mistaken for finished.
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Metrics, Progress } from '../stage-api.js';
import type { ChildMessage, Job } from './messages.js';

const childScript = fileURLToPath(new URL('./child.js', import.meta.url));

export interface StageProcessResult {
  ok: boolean;
  /** Why it failed, in one line. */
  error?: string;
  interrupted: boolean;
  metrics: Metrics;
  environment: Record<string, unknown>;
}

export interface StageProcessOptions {
  job: Job;
  jobFile: string;
  logPath: string;
  env: Record<string, string>;
  onProgress(p: Progress): void;
  /** Aborted on Ctrl-C: the child gets SIGINT and `graceMs` to save before SIGKILL. */
  signal: AbortSignal;
  /** Aborted on a second Ctrl-C: SIGKILL now. */
  killSignal: AbortSignal;
  graceMs?: number;
}

export async function runStageProcess(o: StageProcessOptions): Promise<StageProcessResult> {
  await writeFile(o.jobFile, JSON.stringify(o.job, null, 2));
  await appendFile(o.logPath, `# facepipe stage '${o.job.name}' (${o.job.kind}) started ${new Date().toISOString()}\n`);
  const child = execa(process.execPath, ['--enable-source-maps', childScript, o.jobFile], {
    ipc: true,
    stdin: 'ignore',
    stdout: { file: o.logPath, append: true },
    stderr: { file: o.logPath, append: true },
    // Its own process group: a terminal's Ctrl-C reaches only the runner, which forwards it once.
    detached: true,
    env: o.env,
    extendEnv: true,
    reject: false,
    cwd: path.dirname(o.jobFile),
  });
  const result: StageProcessResult = { ok: false, interrupted: false, metrics: {}, environment: {} };
  let done = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const onKill = () => child.kill('SIGKILL');
  const onAbort = () => {
    child.kill('SIGINT');
    graceTimer = setTimeout(onKill, o.graceMs ?? 120_000);
  };
  o.signal.addEventListener('abort', onAbort, { once: true });
  o.killSignal.addEventListener('abort', onKill, { once: true });
  child.on('message', (raw) => {
    const m = raw as ChildMessage;
    switch (m.type) {
      case 'progress':
        o.onProgress(m.progress);
        break;
      case 'metrics':
        Object.assign(result.metrics, m.metrics);
        break;
      case 'environment':
        Object.assign(result.environment, m.environment);
        break;
      case 'done':
        done = true;
        break;
      case 'error':
        result.error = m.message;
        break;
    }
  });
  const r = await child;
  clearTimeout(graceTimer);
  o.signal.removeEventListener('abort', onAbort);
  o.killSignal.removeEventListener('abort', onKill);
  result.interrupted = o.signal.aborted;
  result.ok = r.exitCode === 0 && done && !o.signal.aborted;
  if (!result.ok) {
    const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${String(r.exitCode)}`;
    result.error ??= r.exitCode === 0 ? 'exited without finishing (no completion message)' : `stage process ${how}`;
  }
  return result;
}
