// From what the user typed (`runs/orl/2026-…`, `runs/orl/latest`, `orl`) to the evaluate and
// train outputs of a recorded run, through its run.json.
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { didYouMean } from '../config/diagnostics.js';
import { listRunRecords, type RunRecord, type StageRecord } from '../runner/run-record.js';
import { readEvaluate, readTrain, ReportError } from './collect.js';
import type { ReportRun } from './model.js';
import { isReferenceName, type ReferenceName } from './reference.js';

export interface ResolvedRun {
  /** What the user typed, for messages. */
  arg: string;
  runDir: string;
  record: RunRecord;
}

const USAGE_HINT = 'give a run folder (runs/<pipeline>/<run-id>), runs/<pipeline>/latest, or a pipeline name';

/**
 * A run argument, tried in order: a folder holding run.json; a pipeline folder (its `latest`);
 * a pipeline name under the runs folder (its `latest`, else its newest record).
 */
export async function resolveRun(arg: string, runsDir: string): Promise<ResolvedRun> {
  const asPath = path.resolve(arg);
  if (existsSync(asPath) && statSync(asPath).isDirectory()) {
    if (existsSync(path.join(asPath, 'run.json'))) return load(arg, asPath);
    if (existsSync(path.join(asPath, 'latest', 'run.json'))) return load(arg, path.join(asPath, 'latest'));
    throw new ReportError(`${arg} is a folder without a run.json: ${USAGE_HINT}`);
  }
  const pipelineDir = path.join(runsDir, arg);
  if (!/[\\/]/.test(arg) && existsSync(pipelineDir)) {
    if (existsSync(path.join(pipelineDir, 'latest', 'run.json'))) return load(arg, path.join(pipelineDir, 'latest'));
    const newest = (await listRunRecords(runsDir, arg))[0];
    if (newest) return load(arg, path.join(pipelineDir, newest.id));
    throw new ReportError(`${pipelineDir} holds no recorded run: run the pipeline first (facepipe run …)`);
  }
  const pipelines = await readdir(runsDir, { withFileTypes: true }).then((ds) => ds.filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name), () => []);
  const guess = didYouMean(arg, pipelines);
  throw new ReportError(
    `no run '${arg}': it is not a folder, and ${runsDir} has no pipeline of that name` +
      (guess ? `; did you mean '${guess}'?` : pipelines.length ? ` (it has: ${pipelines.join(', ')})` : '') +
      ` — ${USAGE_HINT}, and --runs-dir if the runs are elsewhere`,
  );
}

async function load(arg: string, runDir: string): Promise<ResolvedRun> {
  const file = path.join(runDir, 'run.json');
  let record: RunRecord;
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as RunRecord;
  } catch (e) {
    throw new ReportError(`${file} cannot be read (${(e as Error).message}): is this a facepipe run folder?`);
  }
  if (record.format !== 1 || typeof record.stages !== 'object') throw new ReportError(`${file} is not a facepipe run record (format ${String(record.format)})`);
  return { arg, runDir, record };
}

const finished = (s: StageRecord) => s.status === 'ran' || s.status === 'cached';

/**
 * A finished stage's output folder. The run's `outputs/<stage>` link first: it is relative, so it
 * survives moving the runs folder; the absolute outDir in the record does not.
 */
function outputOf(run: ResolvedRun, name: string, s: StageRecord): string {
  const link = path.join(run.runDir, 'outputs', name);
  if (existsSync(link)) return link;
  if (s.outDir && existsSync(s.outDir)) return s.outDir;
  throw new ReportError(`the output of stage '${name}' of ${run.arg} is gone (${s.outDir ?? 'no outDir recorded'}): run the pipeline again to restore it`);
}

/** A published model this run reproduces: its report stage's `reference`, or a pipeline named model-a/b/c. */
function referenceOf(r: RunRecord): ReferenceName | undefined {
  for (const s of Object.values(r.stages)) {
    const ref = s.kind === 'report' ? (s.components?.params as { reference?: unknown } | undefined)?.reference : undefined;
    if (typeof ref === 'string' && isReferenceName(ref)) return ref;
  }
  return isReferenceName(r.pipeline) ? r.pipeline : undefined;
}

/**
 * One report entry per finished evaluate stage of the run, each with the train stage it
 * evaluated: the one among its direct upstream stages (by key), else the run's only one.
 */
export async function entriesOf(run: ResolvedRun): Promise<Omit<ReportRun, 'label'>[]> {
  const stages = Object.entries(run.record.stages);
  const evals = stages.filter(([, s]) => s.kind === 'evaluate' && finished(s));
  if (evals.length === 0) {
    const seen = stages.filter(([, s]) => s.kind === 'evaluate').map(([n, s]) => `${n}: ${s.status}`);
    throw new ReportError(
      `${run.arg} (${run.record.pipeline}/${run.record.id}) has no finished evaluate stage${seen.length ? ` (${seen.join(', ')})` : ''}: ` +
        `run the pipeline to the end, or pick another run (facepipe runs ${run.record.pipeline})`,
    );
  }
  const trains = stages.filter(([, s]) => s.kind === 'train' && finished(s));
  const reference = referenceOf(run.record);
  const out: Omit<ReportRun, 'label'>[] = [];
  for (const [name, s] of evals) {
    const upstream = new Set(Object.values(s.components?.upstream ?? {}));
    const train = trains.find(([, t]) => upstream.has(t.key)) ?? (trains.length === 1 ? trains[0] : undefined);
    out.push({
      source: { pipeline: run.record.pipeline, runId: run.record.id, runDir: run.runDir, evaluateStage: name, ...(train ? { trainStage: train[0] } : {}) },
      evaluate: await readEvaluate(outputOf(run, name, s)),
      ...(train ? { train: await readTrain(outputOf(run, train[0], train[1])) } : {}),
      ...(reference ? { reference } : {}),
    });
  }
  return out;
}

/**
 * Short unique labels: the pipeline name; with the evaluate stage when a run has several; with
 * the run's start time (then its whole id) when the same pipeline appears more than once.
 */
export function labelRuns(entries: Omit<ReportRun, 'label'>[]): ReportRun[] {
  const perRun = new Map<string, number>();
  for (const e of entries) perRun.set(e.source.runDir!, (perRun.get(e.source.runDir!) ?? 0) + 1);
  const base = entries.map((e) => `${e.source.pipeline}${perRun.get(e.source.runDir!)! > 1 ? `/${e.source.evaluateStage}` : ''}`);
  const count = (labels: string[], l: string) => labels.filter((x) => x === l).length;
  const timed = base.map((b, i) => (count(base, b) > 1 ? `${b} ${startTime(entries[i]!.source.runId!)}` : b));
  const withId = timed.map((t, i) => (count(timed, t) > 1 ? `${base[i]} ${entries[i]!.source.runId}` : t));
  // Only copies of one run folder get this far: number them rather than fail.
  return entries.map((e, i) => ({ ...e, label: count(withId, withId[i]!) > 1 ? `${withId[i]} #${i + 1}` : withId[i]! }));
}

/** `2026-11-28T04-19-08-802Z-e9f5c1` → `11-28 04:19:08`. */
function startTime(id: string): string {
  const m = /^\d{4}-(\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)/.exec(id);
  return m ? `${m[1]} ${m[2]}:${m[3]}:${m[4]}` : id;
}
