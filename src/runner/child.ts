// Entry point of a stage's own process: `node child.js <job.json>`. stdout and stderr go to the
// stage's log file; progress, metrics and the final verdict go to the runner over IPC.
import { readFile } from 'node:fs/promises';
import { FormatError } from '../formats/errors.js';
import { loadKind } from '../pipeline/kinds.js';
import { StageFailure, type Metrics, type Progress, type StageContext } from '../stage-api.js';
import type { ChildMessage, Job } from './messages.js';

const EXIT_INTERRUPTED = 130;
let finished = false;

function send(m: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });
}

// Progress can come thousands of times a second; the runner needs a few updates a second.
function throttledProgress(): (p: Progress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 200 && (p.total === undefined || p.done < p.total)) return;
    last = now;
    void send({ type: 'progress', progress: p });
  };
}

async function main(jobFile: string): Promise<number> {
  const job = JSON.parse(await readFile(jobFile, 'utf8')) as Job;
  const abort = new AbortController();
  const stop = (why: string) => {
    if (!abort.signal.aborted) console.error(`[facepipe] ${why}: asking stage '${job.name}' to save and stop`);
    abort.abort(new Error(why));
  };
  process.on('SIGINT', () => stop('interrupted (SIGINT)'));
  process.on('SIGTERM', () => stop('terminated (SIGTERM)'));
  // The runner died (even kill -9): nobody will commit our outputs, so stop working on them.
  process.on('disconnect', () => {
    if (finished) return;
    stop('runner went away');
    setTimeout(() => process.exit(EXIT_INTERRUPTED), 60_000).unref();
  });
  const kind = await loadKind(job.kind);
  const ctx: StageContext = {
    name: job.name,
    params: job.params as Record<string, unknown>,
    outDir: job.outDir,
    workDir: job.workDir,
    baseDir: job.baseDir,
    upstream: job.upstream,
    inputDigests: job.inputDigests,
    signal: abort.signal,
    progress: throttledProgress(),
    metrics: (m: Metrics) => void send({ type: 'metrics', metrics: m }),
    log: (line: string) => console.log(line),
  };
  try {
    await kind.run(ctx);
  } catch (e) {
    // Expected failures (a stage's verdict, a damaged input file) need no stack trace.
    const expected = e instanceof StageFailure || e instanceof FormatError || abort.signal.aborted;
    console.error(e instanceof Error ? (expected ? `error: ${e.message}` : (e.stack ?? e.message)) : String(e));
    await send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    return abort.signal.aborted ? EXIT_INTERRUPTED : 1;
  }
  if (abort.signal.aborted) {
    // The stage returned early after an interrupt: whatever it wrote is not a finished result.
    await send({ type: 'error', message: 'interrupted' });
    return EXIT_INTERRUPTED;
  }
  if (job.compute) {
    const { loadedBackend } = await import('../backend/tf.js');
    const backend = await loadedBackend();
    if (backend) await send({ type: 'environment', environment: { backend } });
  }
  await send({ type: 'done' });
  return 0;
}

const jobFile = process.argv[2];
if (!jobFile) {
  console.error('usage: child.js <job.json>');
  process.exit(2);
}
process.exitCode = await main(jobFile);
finished = true;
// Leave promptly even if the stage left handles open (timers, worker pools).
process.disconnect?.();
setTimeout(() => process.exit(), 100).unref();
