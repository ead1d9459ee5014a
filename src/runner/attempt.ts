// One attempt at one stage: take its lock, re-check the store (another runner may have finished
// it meanwhile), run it in a fresh temporary folder, and only on a clean exit commit the outputs
// with their manifest. A failed or killed attempt leaves nothing that looks finished.
import { copyFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bindRuntimeRefs } from '../config/interpolate.js';
import type { PipelineStage } from '../pipeline/stages.js';
import type { StageKey } from '../pipeline/key.js';
import { acquireLock, type LockOptions } from '../store/lock.js';
import type { FileEntry } from '../store/digest.js';
import type { Store } from '../store/store.js';
import type { Metrics } from '../stage-api.js';
import { rateMeter, type RunEvent } from './events.js';
import { inputDigests } from './input-digests.js';

export interface AttemptContext {
  store: Store;
  locksDir: string;
  runId: string;
  logsDir: string;
  baseDir: string;
  emit(e: RunEvent): void;
  signal: AbortSignal;
  killSignal: AbortSignal;
  lockOptions?: LockOptions;
  /** Re-run even when the store has a result. */
  forced: boolean;
}

export interface UpstreamResult {
  outDir: string;
  metrics: Metrics;
  /** Its manifest's file list: digests of upstream outputs for inputDigests (not sent to the child). */
  files?: FileEntry[];
}

export type AttemptResult =
  | { status: 'cached' | 'ran'; outDir: string; metrics: Metrics; files: FileEntry[]; seconds: number; environment: Record<string, unknown>; log?: string }
  | { status: 'failed'; error: string; log: string; seconds: number };

export async function attemptStage(stage: PipelineStage, key: StageKey, upstream: Record<string, UpstreamResult>, c: AttemptContext): Promise<AttemptResult> {
  const lock = await acquireLock(c.locksDir, { key: key.key, stage: stage.name, runId: c.runId }, {
    ...c.lockOptions,
    signal: c.signal,
    onWait: (h) => c.emit({ type: 'waiting-lock', stage: stage.name, holder: `pid ${h.pid} on ${h.host} (run ${h.runId}, since ${h.startedAt})` }),
    onTakeover: (_stale, reason) => c.emit({ type: 'lock-takeover', stage: stage.name, reason }),
  });
  try {
    if (!c.forced) {
      const found = await c.store.lookup(key.key);
      if (found.status === 'hit') {
        c.emit({ type: 'stage-cached', stage: stage.name, key: key.key, reused: true });
        return { status: 'cached', outDir: found.outDir, metrics: found.manifest.metrics, files: found.manifest.files, seconds: 0, environment: found.manifest.environment };
      }
    }
    // If another runner judged us dead and took the lock, stop: two writers for one key is wrong.
    return await runLocked(stage, key, upstream, { ...c, signal: AbortSignal.any([c.signal, lock.lost]) }, lock.lost);
  } finally {
    await lock.release();
  }
}

async function runLocked(stage: PipelineStage, key: StageKey, upstream: Record<string, UpstreamResult>, c: AttemptContext, lost: AbortSignal): Promise<AttemptResult> {
  const attempt = await c.store.begin(key.key);
  const workDir = stage.persistentWork ? await c.store.workDir(key.workKey ?? key.key) : undefined;
  const logPath = path.join(c.logsDir, `${stage.name}.log`);
  const started = new Date();
  const params = bindRuntimeRefs(stage.params, {
    out: attempt.outDir,
    ...(workDir ? { work: workDir } : {}),
    stages: Object.fromEntries(Object.entries(upstream).map(([n, u]) => [n, u.outDir])),
  });
  const rate = rateMeter();
  // Loaded on first use: execa is not needed when everything is cached.
  const { runStageProcess } = await import('./stage-process.js');
  const res = await runStageProcess({
    job: {
      name: stage.name,
      kind: stage.kind,
      params,
      outDir: attempt.outDir,
      workDir,
      baseDir: c.baseDir,
      upstream: Object.fromEntries(Object.entries(upstream).map(([n, u]) => [n, { outDir: u.outDir, metrics: u.metrics }])),
      inputDigests: inputDigests(stage, key, upstream, c.baseDir),
      compute: stage.compute,
    },
    jobFile: path.join(attempt.dir, 'job.json'),
    logPath,
    env: { FACEPIPE_STAGE: stage.name, FACEPIPE_RUN_ID: c.runId },
    onProgress: (p) => c.emit({ type: 'stage-progress', stage: stage.name, progress: p, rate: rate(p) }),
    signal: c.signal,
    killSignal: c.killSignal,
  });
  const seconds = (Date.now() - started.getTime()) / 1000;
  if (!res.ok || lost.aborted) {
    await c.store.abandon(attempt);
    const error = lost.aborted ? String((lost.reason as Error).message) : (res.error ?? 'failed');
    return { status: 'failed', error, log: logPath, seconds };
  }
  await copyFile(logPath, attempt.logPath);
  const environment = { host: os.hostname(), ...res.environment };
  const timings = { startedAt: started.toISOString(), finishedAt: new Date().toISOString(), seconds };
  const manifest = await c.store.commit(attempt, { key: key.key, stage: stage.name, kind: stage.kind, components: key.components, metrics: res.metrics, timings, environment });
  if (workDir) await c.store.removeWork(key.workKey ?? key.key);
  return { status: 'ran', outDir: c.store.outDir(key.key), metrics: res.metrics, files: manifest.files, seconds, environment, log: logPath };
}

export async function logTail(file: string, lines = 20): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines);
  } catch {
    return [];
  }
}
