// `facepipe run` with sweep values: one run per trial, recorded together in
// runs/<pipeline>/.sweeps/<id>/sweep.json, then compared. Stages shared by trials have equal keys,
// so they run once; re-launching the same sweep finds finished trials in the store and resumes
// an interrupted training from its work folder.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import { uniqueSuffix } from '../store/fs-util.js';
import type { JsonObject } from '../config/sourced.js';
import { loadPipeline } from '../config/pipeline.js';
import { formatText } from '../compare/format.js';
import { compareRuns } from '../compare/table.js';
import type { SweepRecord } from '../compare/runs.js';
import { runPrepared, type RunOptions } from '../commands/run.js';
import { prepare } from '../runner/prepare.js';
import { newRunId, type RunRecord } from '../runner/run-record.js';
import { PlainRenderer } from '../ui/plain.js';
import { expand, type SweepDim, type SweepSpec, type Trial } from './expand.js';
import { domainOf } from './grammar.js';

/** The sweep of the pipeline's `sweep:` block plus -S dimensions (which replace equal keys). */
export function sweepSpec(block: JsonObject | undefined, cli: SweepDim[], parallel?: number): SweepSpec | undefined {
  const params = (block?.params ?? {}) as JsonObject;
  const dims: SweepDim[] = Object.entries(params).filter(([k]) => !cli.some((d) => d.key === k)).map(([key, v]) => ({ key, domain: domainOf(v) }));
  dims.push(...cli);
  if (dims.length === 0) return undefined;
  return {
    mode: block?.mode === 'random' ? 'random' : 'grid',
    ...(typeof block?.trials === 'number' ? { trials: block.trials } : {}),
    seed: typeof block?.seed === 'number' ? block.seed : 0,
    parallel: parallel ?? (typeof block?.parallel === 'number' ? block.parallel : 1),
    dims,
  };
}

/** Saves of each sweep record, in order: parallel trials finish at the same moment, and two
 *  renames of one temporary file would race (the second finds it gone). */
const saving = new Map<string, Promise<void>>();

export function saveSweepRecord(file: string, rec: SweepRecord): Promise<void> {
  const next = (saving.get(file) ?? Promise.resolve()).catch(() => undefined).then(async () => {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${uniqueSuffix()}.tmp`;
    await writeFile(tmp, JSON.stringify(rec, null, 2) + '\n');
    await rename(tmp, file);
  });
  saving.set(file, next);
  return next;
}

/** --dry-run of a sweep: each trial's plan. */
export async function planSweep(o: RunOptions, spec: SweepSpec): Promise<number> {
  const { printPlan } = await import('../commands/plan.js');
  const trials = expand(spec);
  process.stdout.write(`sweep: ${trials.length} trials (${spec.mode})\n`);
  for (const t of trials) {
    process.stdout.write(`\n[trial ${t.index + 1}/${trials.length}] ${Object.entries(t.assignments).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}\n`);
    printPlan(await prepare({ ...o, overrides: [...o.overrides, ...t.overrides] }), true);
  }
  return 0;
}

export async function runSweep(o: RunOptions, spec: SweepSpec): Promise<number> {
  const base = await loadPipeline(o.file, o.overrides);
  let trials: Trial[];
  try {
    trials = expand(spec);
  } catch (e) {
    throw ConfigError.one({ message: `sweep: ${(e as Error).message}`, fix: 'see the sweep block in schemas/pipeline.schema.json' });
  }
  const id = newRunId();
  const file = path.join(o.runsDir, base.name, '.sweeps', id, 'sweep.json');
  const rec: SweepRecord = { id, pipeline: base.name, trials: trials.map((t) => ({ index: t.index, assignments: t.assignments, status: 'pending' })) };
  await saveSweepRecord(file, rec);
  process.stdout.write(`facepipe: sweep ${id} of '${base.name}': ${trials.length} trials (${spec.mode}${spec.parallel > 1 ? `, ${spec.parallel} at a time` : ''})\n`);
  let stopped = false;
  const onInt = () => (stopped = true);
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  const records: RunRecord[] = [];
  let failed = 0;
  const runTrial = async (t: Trial) => {
    const label = `[trial ${t.index + 1}/${trials.length}] `;
    const ui = new PlainRenderer(process.stdout, 10, label);
    process.stdout.write(`${label}${Object.entries(t.assignments).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}\n`);
    const prep = await prepare({ ...o, overrides: [...o.overrides, ...t.overrides] });
    const summary = await runPrepared(prep, { ...o, sweep: { id, trial: t.index, trials: trials.length, assignments: t.assignments } }, (e) => ui.handle(e));
    rec.trials[t.index] = { ...rec.trials[t.index]!, runId: summary.runId, status: summary.status };
    if (summary.status !== 'succeeded') failed++;
    await saveSweepRecord(file, rec);
    records[t.index] = JSON.parse(await readFile(summary.record, 'utf8')) as RunRecord;
  };
  try {
    const queue = [...trials];
    await Promise.all(Array.from({ length: Math.max(1, spec.parallel) }, async () => {
      for (let t = queue.shift(); t && !stopped; t = queue.shift()) await runTrial(t);
    }));
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onInt);
  }
  const done = records.filter(Boolean);
  if (done.length > 1) process.stdout.write('\n' + formatText(compareRuns(done), process.stdout.isTTY === true) + '\n');
  process.stdout.write(`facepipe: sweep ${stopped ? 'interrupted' : 'finished'}: ${done.length - failed} of ${trials.length} trials succeeded; facepipe compare ${base.name} shows the table again\n`);
  return stopped ? 130 : failed > 0 || done.length < trials.length ? 1 : 0;
}
