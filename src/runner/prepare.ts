// Everything before execution, shared by run, plan, explain and status: load and validate the
// pipeline, compute stage keys (through the stat cache), ask the store, and plan.
import { loadPipeline, type Pipeline } from '../config/pipeline.js';
import type { Override } from '../config/overrides.js';
import { computeKeys, type StageKey } from '../pipeline/key.js';
import { plan, type Lookup, type PlanEntry } from '../pipeline/plan.js';
import { Digester } from '../store/digest.js';
import { layout, type Layout } from '../store/layout.js';
import { StatCache } from '../store/stat-cache.js';
import { Store } from '../store/store.js';
import type { UpstreamResult } from './attempt.js';
import { previousComponents } from './run-record.js';

export interface Prepared {
  pipeline: Pipeline;
  layout: Layout;
  store: Store;
  digester: Digester;
  keys: Record<string, StageKey>;
  plan: PlanEntry[];
  cached: Record<string, UpstreamResult>;
}

export interface PrepareOptions {
  file: string;
  overrides: Override[];
  runsDir: string;
  force: ReadonlySet<string> | 'all';
  rehash: boolean;
}

export async function prepare(o: PrepareOptions): Promise<Prepared> {
  const pipeline = await loadPipeline(o.file, o.overrides);
  const lay = layout(o.runsDir);
  const statCache = await StatCache.load(lay.statCache);
  const digester = new Digester(statCache, { rehash: o.rehash });
  const keys = await computeKeys(pipeline, digester);
  const store = new Store(lay, digester);
  const lookups: Record<string, Lookup> = {};
  const cached: Record<string, UpstreamResult> = {};
  for (const name of pipeline.order) {
    const found = await store.lookup(keys[name]!.key);
    if (found.status === 'hit') {
      lookups[name] = { status: 'hit' };
      cached[name] = { outDir: found.outDir, metrics: found.manifest.metrics, files: found.manifest.files };
    } else {
      lookups[name] = found;
    }
  }
  // Saved now (not only at the end of a run) so `plan` and `status` also remember what they hashed.
  await statCache.save();
  const previous = await previousComponents(o.runsDir, pipeline.name);
  const kinds = Object.fromEntries(pipeline.order.map((n) => [n, pipeline.stages[n]!.kind]));
  const entries = plan({ order: pipeline.order, kinds, keys, lookups, force: o.force, previous });
  return { pipeline, layout: lay, store, digester, keys, plan: entries, cached };
}
