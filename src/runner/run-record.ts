// Every run leaves runs/<pipeline>/<run-id>/run.json: what was asked, what each stage did, with
// which key, and on which machine and backend. `explain`, `plan` and `runs` read these.
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { KeyComponents } from '../pipeline/key.js';
import type { Metrics } from '../stage-api.js';
import { facepipeVersion } from '../paths.js';

export type StageStatus = 'cached' | 'ran' | 'failed' | 'skipped';

export interface StageRecord {
  kind: string;
  key: string;
  components: KeyComponents;
  status: StageStatus | 'pending';
  /** Why it ran (or was cached / skipped). */
  reasons: string[];
  outDir?: string;
  seconds?: number;
  metrics?: Metrics;
  log?: string;
  error?: string;
  environment?: Record<string, unknown>;
}

export interface RunRecord {
  format: 1;
  id: string;
  pipeline: string;
  file: string;
  argv: string[];
  startedAt: string;
  finishedAt?: string;
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
  config: unknown;
  /** Set when the run is one trial of a sweep. */
  sweep?: { id: string; trial: number; trials: number; assignments: Record<string, unknown> };
  /** Input files digested while computing keys: a no-op re-run should show 0 bytes hashed. */
  inputs: { filesHashed: number; bytesHashed: number; cacheHits: number };
  stages: Record<string, StageRecord>;
  environment: Record<string, unknown>;
}

/** Sortable by time, unique across concurrent runners. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
}

export function runDir(runsDir: string, pipeline: string, id: string): string {
  return path.join(runsDir, pipeline, id);
}

export function hostEnvironment(): Record<string, unknown> {
  return { facepipe: facepipeVersion, node: process.version, platform: `${process.platform}-${process.arch}`, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', host: os.hostname() };
}

/** Written through a temp file and rename, so a reader never sees half a record. */
export async function saveRunRecord(runsDir: string, r: RunRecord): Promise<string> {
  const dir = runDir(runsDir, r.pipeline, r.id);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'run.json');
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(r, null, 2) + '\n');
  await rename(tmp, file);
  return file;
}

/** Run records of one pipeline (or of all, when `pipeline` is undefined), newest first. */
export async function listRunRecords(runsDir: string, pipeline?: string): Promise<RunRecord[]> {
  const pipelines = pipeline ? [pipeline] : await dirs(runsDir);
  const records: RunRecord[] = [];
  for (const p of pipelines) {
    for (const id of await dirs(path.join(runsDir, p))) {
      try {
        records.push(JSON.parse(await readFile(path.join(runsDir, p, id, 'run.json'), 'utf8')) as RunRecord);
      } catch {
        // A folder without a readable record is not a run (or one killed before its first save).
      }
    }
  }
  return records.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

async function dirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
  } catch {
    return [];
  }
}

/** The key components each stage had in the newest earlier run of this pipeline. */
export async function previousComponents(runsDir: string, pipeline: string, exceptId?: string): Promise<Record<string, KeyComponents | undefined>> {
  const out: Record<string, KeyComponents | undefined> = {};
  for (const r of await listRunRecords(runsDir, pipeline)) {
    if (r.id === exceptId) continue;
    for (const [name, s] of Object.entries(r.stages)) if (!(name in out)) out[name] = s.components;
  }
  return out;
}
