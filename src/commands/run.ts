// `facepipe run <pipeline.yaml>`: plan, execute, record.
import { mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { execute } from '../runner/executor.js';
import type { Renderer, RunEvent } from '../runner/events.js';
import { prepare, type PrepareOptions, type Prepared } from '../runner/prepare.js';
import { hostEnvironment, newRunId, runDir, saveRunRecord, type RunRecord, type StageStatus } from '../runner/run-record.js';
import { PlainRenderer } from '../ui/plain.js';
import { printPlan } from './plan.js';
import { loadPipeline } from '../config/pipeline.js';
import type { SweepDim } from '../sweep/expand.js';
import { planSweep, runSweep, sweepSpec } from '../sweep/run-sweep.js';

export interface RunOptions extends PrepareOptions {
  argv: string[];
  /** The sweep this run is a trial of. */
  sweep?: RunRecord['sweep'];
  dryRun: boolean;
  json: boolean;
  jobs?: number;
  gpus: number;
}

export interface RunSummary {
  pipeline: string;
  runId: string;
  status: RunRecord['status'];
  record: string;
  inputs: RunRecord['inputs'];
  stages: { name: string; status: StageStatus; key: string; outDir: string | null; seconds: number; metrics: Record<string, unknown> }[];
}

export async function runCommand(o: RunOptions, dims: SweepDim[] = [], parallel?: number): Promise<number> {
  const spec = sweepSpec((await loadPipeline(o.file, o.overrides)).sweep, dims, parallel);
  if (spec) return o.dryRun ? planSweep(o, spec) : runSweep(o, spec);
  const prepared = await prepare(o);
  if (o.dryRun) {
    if (o.json) process.stdout.write(JSON.stringify({ pipeline: prepared.pipeline.name, dryRun: true, plan: prepared.plan }, null, 2) + '\n');
    else printPlan(prepared, true);
    return 0;
  }
  const renderer = await pickRenderer(o.json);
  const summary = await runPrepared(prepared, o, (e) => renderer.handle(e));
  await renderer.close();
  if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  return summary.status === 'succeeded' ? 0 : summary.status === 'interrupted' ? 130 : 1;
}

async function pickRenderer(json: boolean): Promise<Renderer> {
  if (json) return new PlainRenderer(process.stderr);
  // listr2 is only loaded for a terminal: a no-op re-run in CI should not pay for it.
  if (process.stdout.isTTY && !process.env.CI) return new (await import('../ui/tree.js')).TreeRenderer();
  return new PlainRenderer(process.stdout);
}

export async function runPrepared(prep: Prepared, o: RunOptions, emit: (e: RunEvent) => void): Promise<RunSummary> {
  const { pipeline } = prep;
  const t0 = Date.now();
  const id = newRunId();
  const dir = runDir(o.runsDir, pipeline.name, id);
  const record: RunRecord = {
    format: 1,
    id,
    pipeline: pipeline.name,
    file: pipeline.file,
    argv: o.argv,
    startedAt: new Date().toISOString(),
    status: 'running',
    config: pipeline.config,
    ...(o.sweep ? { sweep: o.sweep } : {}),
    inputs: { ...prep.digester.stats },
    stages: Object.fromEntries(prep.plan.map((e) => [e.name, { kind: e.kind, key: e.key, components: prep.keys[e.name]!.components, status: 'pending', reasons: e.reasons }])),
    environment: hostEnvironment(),
  };
  // Stages finish concurrently: saves are queued so each writes the newest state, in order.
  let saving = saveRunRecord(o.runsDir, record);
  const save = () => (saving = saving.then(() => saveRunRecord(o.runsDir, record)));
  let recordPath = await saving;
  const { signal, killSignal, dispose } = interrupts(emit);
  emit({ type: 'run-start', pipeline: pipeline.name, runId: id, plan: prep.plan });
  try {
    await execute({
      pipeline,
      keys: prep.keys,
      plan: prep.plan,
      cached: prep.cached,
      store: prep.store,
      locksDir: prep.layout.locks,
      runId: id,
      logsDir: await mkdirp(path.join(dir, 'logs')),
      emit,
      signal,
      killSignal,
      lockOptions: lockOptionsFromEnv(),
      jobs: o.jobs ?? pipeline.concurrency,
      gpus: o.gpus,
      onRecord: async (name, r) => {
        record.stages[name] = r;
        await save();
      },
    });
  } finally {
    dispose();
  }
  const statuses = Object.values(record.stages).map((s) => s.status);
  record.status = signal.aborted ? 'interrupted' : statuses.every((s) => s === 'cached' || s === 'ran') ? 'succeeded' : 'failed';
  record.finishedAt = new Date().toISOString();
  recordPath = await save();
  await prep.digester.cache.save();
  await prep.store.emptyTrash(24 * 3600_000);
  await linkOutputs(o.runsDir, record);
  // Through runs/<pipeline>/latest, so the path printed stays short and keeps working.
  const headlines = Object.entries(record.stages)
    .filter(([n, s]) => s.outDir && pipeline.stages[n]?.headline)
    .map(([n]) => path.join(o.runsDir, pipeline.name, 'latest', 'outputs', n, pipeline.stages[n]!.headline!));
  emit({ type: 'run-end', status: record.status, recordPath, seconds: (Date.now() - t0) / 1000, headlines });
  return {
    pipeline: pipeline.name,
    runId: id,
    status: record.status,
    record: recordPath,
    inputs: record.inputs,
    stages: Object.entries(record.stages).map(([name, s]) => ({
      name,
      status: s.status === 'pending' ? 'skipped' : s.status,
      key: s.key,
      outDir: s.outDir ?? null,
      seconds: s.seconds ?? 0,
      metrics: s.metrics ?? {},
    })),
  };
}

/** First Ctrl-C (or SIGTERM): stages get SIGINT and time to save. Second: kill them now. */
function interrupts(emit: (e: RunEvent) => void) {
  const soft = new AbortController();
  const hard = new AbortController();
  const onSignal = (sig: string) => {
    if (!soft.signal.aborted) {
      emit({ type: 'warning', message: `${sig}: stopping — running stages are asked to save and exit (press Ctrl-C again to kill them)` });
      soft.abort();
    } else {
      hard.abort();
    }
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: soft.signal,
    killSignal: hard.signal,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

function lockOptionsFromEnv() {
  const num = (v: string | undefined) => (v && Number.isFinite(Number(v)) ? Number(v) : undefined);
  return { staleMs: num(process.env.FACEPIPE_LOCK_STALE_MS), heartbeatMs: num(process.env.FACEPIPE_LOCK_HEARTBEAT_MS) };
}

async function mkdirp(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

/** runs/<pipeline>/latest → this run, and <run>/outputs/<stage> → each stage's output folder. */
async function linkOutputs(runsDir: string, r: RunRecord): Promise<void> {
  const dir = runDir(runsDir, r.pipeline, r.id);
  const outputs = await mkdirp(path.join(dir, 'outputs'));
  for (const [name, s] of Object.entries(r.stages)) {
    if (s.outDir) await symlink(path.relative(outputs, s.outDir), path.join(outputs, name)).catch(() => undefined);
  }
  const latest = path.join(runsDir, r.pipeline, 'latest');
  await rm(latest, { force: true });
  await symlink(r.id, latest).catch(() => undefined);
}
