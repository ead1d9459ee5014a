// Runs a planned pipeline: stages start when everything they need has finished, at most `jobs` at
// a time, a stage that needs the whole machine runs alone, GPU stages share the GPU slots.
import type { Pipeline } from '../config/pipeline.js';
import type { StageKey } from '../pipeline/key.js';
import type { PlanEntry } from '../pipeline/plan.js';
import type { Resources } from '../stage-api.js';
import { attemptStage, logTail, type AttemptContext, type AttemptResult, type UpstreamResult } from './attempt.js';
import type { StageRecord } from './run-record.js';

export interface ExecuteOptions extends Omit<AttemptContext, 'forced' | 'baseDir'> {
  pipeline: Pipeline;
  keys: Record<string, StageKey>;
  plan: PlanEntry[];
  /** Results of stages the plan found cached. */
  cached: Record<string, UpstreamResult>;
  jobs: number;
  gpus: number;
  /** Called after every stage changes state, so the run record on disk stays current. */
  onRecord(name: string, r: StageRecord): Promise<void>;
}

type State = 'pending' | 'running' | 'ok' | 'failed' | 'skipped';

export async function execute(o: ExecuteOptions): Promise<Record<string, StageRecord>> {
  const { pipeline: p } = o;
  const state = new Map<string, State>(p.order.map((n) => [n, 'pending']));
  const results: Record<string, UpstreamResult> = {};
  const records: Record<string, StageRecord> = {};
  const running = new Map<string, Promise<void>>();
  const base = (e: PlanEntry): StageRecord => ({ kind: e.kind, key: e.key, components: o.keys[e.name]!.components, status: 'pending', reasons: e.reasons });
  const finish = async (name: string, r: StageRecord, st: State) => {
    state.set(name, st);
    records[name] = r;
    await o.onRecord(name, r);
  };

  for (const e of o.plan) {
    if (e.action !== 'cached') continue;
    results[e.name] = o.cached[e.name]!;
    o.emit({ type: 'stage-cached', stage: e.name, key: e.key, reused: false });
    await finish(e.name, { ...base(e), status: 'cached', outDir: results[e.name]!.outDir, metrics: results[e.name]!.metrics }, 'ok');
  }

  const start = (e: PlanEntry) => {
    state.set(e.name, 'running');
    const stage = p.stages[e.name]!;
    const upstream = Object.fromEntries(stage.needs.map((n) => [n, results[n]!]));
    o.emit({ type: 'stage-start', stage: e.name, key: e.key, reasons: e.reasons });
    const ctx: AttemptContext = { ...o, baseDir: p.baseDir, forced: e.forced };
    const job = attemptStage(stage, o.keys[e.name]!, upstream, ctx)
      .catch((err: unknown): AttemptResult => ({ status: 'failed', error: err instanceof Error ? err.message : String(err), log: '', seconds: 0 }))
      .then(async (r) => {
        if (r.status === 'failed') {
          o.emit({ type: 'stage-failed', stage: e.name, error: r.error, logPath: r.log, logTail: r.log ? await logTail(r.log) : [] });
          await finish(e.name, { ...base(e), status: 'failed', error: r.error, log: r.log, seconds: r.seconds }, 'failed');
        } else {
          results[e.name] = { outDir: r.outDir, metrics: r.metrics, files: r.files };
          if (r.status === 'ran') o.emit({ type: 'stage-done', stage: e.name, seconds: r.seconds, metrics: r.metrics });
          await finish(e.name, { ...base(e), status: r.status, outDir: r.outDir, seconds: r.seconds, metrics: r.metrics, log: r.log, environment: r.environment }, 'ok');
        }
        running.delete(e.name);
      });
    running.set(e.name, job);
  };

  for (;;) {
    for (const e of o.plan) {
      if (state.get(e.name) !== 'pending') continue;
      const needs = p.stages[e.name]!.needs;
      const blocked = needs.find((n) => state.get(n) === 'failed' || state.get(n) === 'skipped');
      if (blocked || o.signal.aborted) {
        const reason = o.signal.aborted ? 'run interrupted' : `upstream stage '${blocked}' did not finish`;
        o.emit({ type: 'stage-skipped', stage: e.name, reason });
        await finish(e.name, { ...base(e), status: 'skipped', reasons: [reason] }, 'skipped');
      } else if (needs.every((n) => state.get(n) === 'ok') && fits(e.name)) {
        start(e);
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  return records;

  function fits(name: string): boolean {
    const want = p.stages[name]!.resources;
    const busy = [...running.keys()].map((n) => p.stages[n]!.resources);
    if (busy.length >= o.jobs) return false;
    if (busy.length > 0 && (want.machine || busy.some((r) => r.machine))) return false;
    return gpusUsed(busy) + gpusWanted(want) <= o.gpus;
  }

  // Without any GPU, a GPU stage runs on the CPU backend and takes no GPU slot.
  function gpusWanted(r: Resources): number {
    return o.gpus === 0 ? 0 : Math.min(r.gpus ?? 0, o.gpus);
  }
  function gpusUsed(rs: Resources[]): number {
    return rs.reduce((s, r) => s + gpusWanted(r), 0);
  }
}
