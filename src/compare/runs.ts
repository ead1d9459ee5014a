// Which runs `compare` and `report` look at: run folders, `<pipeline>/latest`, a pipeline name or
// file (its latest sweep's trials, else its recent successful runs).
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import { listRunRecords, type RunRecord } from '../runner/run-record.js';

export interface SweepRecord {
  id: string;
  pipeline: string;
  trials: { index: number; assignments: Record<string, unknown>; runId?: string; status: string }[];
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** The newest sweep of a pipeline, if it has one. */
export async function latestSweep(runsDir: string, pipeline: string): Promise<SweepRecord | undefined> {
  const dir = path.join(runsDir, pipeline, '.sweeps');
  const ids = (await readdir(dir).catch(() => [] as string[])).sort().reverse();
  for (const id of ids) {
    const f = path.join(dir, id, 'sweep.json');
    if (existsSync(f)) return readJson<SweepRecord>(f);
  }
  return undefined;
}

async function pipelineRuns(runsDir: string, name: string): Promise<RunRecord[]> {
  const all = await listRunRecords(runsDir, name);
  const sweep = await latestSweep(runsDir, name);
  if (sweep) {
    const byId = new Map(all.map((r) => [r.id, r]));
    return sweep.trials.map((t) => (t.runId ? byId.get(t.runId) : undefined)).filter((r): r is RunRecord => r !== undefined);
  }
  return all.filter((r) => r.status === 'succeeded').slice(0, 20).reverse();
}

export async function resolveRuns(args: string[], runsDir: string): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  for (const a of args) {
    const asDir = path.resolve(a);
    if (existsSync(path.join(asDir, 'run.json'))) {
      out.push(await readJson<RunRecord>(path.join(asDir, 'run.json')));
      continue;
    }
    const name = /\.ya?ml$/i.test(a) && existsSync(a) && statSync(a).isFile() ? await pipelineName(a) : a;
    const runs = await pipelineRuns(runsDir, name);
    if (runs.length === 0) {
      throw ConfigError.one({ message: `no runs found for '${a}' in ${runsDir}`, fix: 'give run folders (runs/<pipeline>/<run-id>), runs/<pipeline>/latest, a pipeline name or file; --runs-dir if they are elsewhere' });
    }
    out.push(...runs);
  }
  return out;
}

async function pipelineName(file: string): Promise<string> {
  const { loadPipeline } = await import('../config/pipeline.js');
  return (await loadPipeline(file)).name;
}
