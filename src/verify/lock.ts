// `<pipeline>.lock`: what a finished pipeline produced — per stage its key (with the components,
// so drift can be explained), output digests and metrics — and on what (facepipe, Node, CPU,
// TensorFlow backend). `facepipe verify` re-runs the pipeline and holds the result against it.
import { readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import type { KeyComponents } from '../pipeline/key.js';
import type { Prepared } from '../runner/prepare.js';
import { facepipeVersion } from '../paths.js';
import type { Metrics } from '../stage-api.js';

export interface LockedStage {
  kind: string;
  key: string;
  components: KeyComponents;
  compare: 'exact' | 'metrics' | 'none';
  /** Outputs (globs) that must be byte-identical when compare is 'exact'. */
  exactOutputs: string[];
  /** Metrics (globs) held to the tolerance. */
  checkedMetrics: string[];
  tolerance: number;
  outputs: Record<string, string>;
  metrics: Metrics;
  /** The TensorFlow backend a compute stage ran on. */
  backend?: Record<string, unknown>;
}

export interface LockFile {
  format: 1;
  pipeline: string;
  /** -S overrides the pipeline was locked with; verify re-runs with the same. */
  overrides: string[];
  lockedAt: string;
  environment: { facepipe: string; node: string; platform: string; cpu: string };
  stages: Record<string, LockedStage>;
}

export function lockPath(pipelineFile: string): string {
  return pipelineFile.replace(/\.ya?ml$/i, '') + '.lock';
}

export function environmentNow(): LockFile['environment'] {
  return { facepipe: facepipeVersion, node: process.version, platform: `${process.platform}-${process.arch}`, cpu: os.cpus()[0]?.model ?? 'unknown' };
}

/** The lock of a pipeline whose stages are all finished (found in the store). */
export async function buildLock(prep: Prepared, overrides: string[]): Promise<LockFile> {
  const stages: Record<string, LockedStage> = {};
  const missing = prep.plan.filter((e) => e.action !== 'cached').map((e) => e.name);
  if (missing.length > 0) {
    throw ConfigError.one({ message: `not every stage of '${prep.pipeline.name}' is finished: ${missing.join(', ')}`, fix: `run it first: facepipe run ${path.relative(process.cwd(), prep.pipeline.file)}${overrides.map((o) => ` -S ${o}`).join('')}` });
  }
  for (const e of prep.plan) {
    const found = await prep.store.lookup(e.key);
    if (found.status !== 'hit') throw ConfigError.one({ message: `the stored result of stage '${e.name}' went away while locking`, fix: 'run the pipeline again' });
    const s = prep.pipeline.stages[e.name]!;
    const backend = found.manifest.environment.backend as Record<string, unknown> | undefined;
    stages[e.name] = {
      kind: e.kind,
      key: e.key,
      components: prep.keys[e.name]!.components,
      compare: s.verify.compare,
      exactOutputs: s.verify.outputs,
      checkedMetrics: s.verify.metrics,
      tolerance: s.verify.tolerance,
      outputs: Object.fromEntries(found.manifest.files.map((f) => [f.path, f.digest])),
      metrics: found.manifest.metrics,
      ...(backend ? { backend: { package: backend.package, tensorflowVersion: backend.tensorflowVersion, backend: backend.backend } } : {}),
    };
  }
  return { format: 1, pipeline: prep.pipeline.name, overrides, lockedAt: new Date().toISOString(), environment: environmentNow(), stages };
}

export async function writeLock(file: string, lock: LockFile): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(lock, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

export async function readLock(file: string): Promise<LockFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw ConfigError.one({ message: `no lock file ${file}`, fix: 'make one with: facepipe lock <pipeline> (after running it)' });
  }
  try {
    const lock = JSON.parse(text) as LockFile;
    if (lock.format !== 1 || typeof lock.stages !== 'object') throw new Error('not a facepipe lock (format 1)');
    return lock;
  } catch (e) {
    throw ConfigError.one({ message: `${file} is not a valid lock file: ${(e as Error).message}`, fix: 'recreate it with facepipe lock <pipeline>' });
  }
}
