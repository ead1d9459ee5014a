// Turns the resolved `stages:` block into checked stage definitions: known kinds, parameters valid
// under each kind's schema, needs that exist, no cycles.
import { ConfigError, didYouMean, type Diagnostic } from '../config/diagnostics.js';
import { stageRefs, usesWorkRef } from '../config/interpolate.js';
import { validateAt } from '../config/schemas.js';
import { dotted, isObject, locate, pointer, type JsonObject, type Sourced } from '../config/sourced.js';
import type { Resources, StageKind } from '../stage-api.js';
import { topoOrder } from './graph.js';
import { kindExists, listKinds, loadKind } from './kinds.js';

export interface PipelineStage {
  name: string;
  kind: string;
  kindVersion: string;
  /** Explicit `needs` plus every stage referenced as ${{ stages.X.out }}. */
  needs: string[];
  /** Validated parameters; run-time references (${{ out }}, ${{ stages.X.out }}) still unbound. */
  params: JsonObject;
  resources: Resources;
  persistentWork: boolean;
  /** The parameters in the work directory's key, when not all of them (StageKind.workParams). */
  workParams?: JsonObject;
  compute: boolean;
  /** The output to point a person at after a run (StageKind.headline). */
  headline?: string;
  /** How `facepipe verify` compares a re-run: the kind's defaults, changed by the stage's `verify:`. */
  verify: VerifyPolicy;
}

export async function buildStages(doc: Sourced): Promise<{ stages: Record<string, PipelineStage>; order: string[] }> {
  const block = (doc.value as JsonObject).stages as Record<string, JsonObject>;
  const names = Object.keys(block);
  const errors: Diagnostic[] = [];
  const stages: Record<string, PipelineStage> = {};
  for (const name of names) {
    try {
      stages[name] = await buildStage(doc, name, block[name]!, names);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(...e.diagnostics);
    }
  }
  if (errors.length > 0) throw new ConfigError(errors);
  const result = topoOrder(Object.fromEntries(names.map((n) => [n, stages[n]!.needs])));
  if ('cycle' in result) {
    const at = pointer(['stages', result.cycle[0]!, 'needs']);
    throw ConfigError.one({
      loc: locate(doc.origins, at),
      keyPath: dotted(at),
      message: `the stages depend on each other in a cycle: ${result.cycle.join(' → ')}`,
      fix: 'remove one of these dependencies (a `needs` entry or a ${{ stages.X.out }} reference)',
    });
  }
  return { stages, order: result.order };
}

async function buildStage(doc: Sourced, name: string, def: JsonObject, names: string[]): Promise<PipelineStage> {
  const base = pointer(['stages', name]);
  const kindName = def.uses as string;
  if (!kindExists(kindName)) throw unknownName(doc, `${base}/uses`, `stage kind '${kindName}'`, kindName, listKinds(), 'stage kinds are the folders under stages/');
  const params = def.with ?? {};
  if (!isObject(params)) {
    throw ConfigError.one({ loc: locate(doc.origins, `${base}/with`), keyPath: dotted(`${base}/with`), message: 'must be a mapping of parameters', fix: 'refer to a mapping in the config, e.g. with: ${{ config.train }}' });
  }
  if (def.with === undefined) def.with = params;
  validateAt(doc, `${base}/with`, `stages/${kindName}`);
  const needs = [...((def.needs ?? []) as string[])];
  const errors: Diagnostic[] = [];
  needs.forEach((n, i) => {
    if (!names.includes(n)) errors.push(...unknownName(doc, `${base}/needs/${i}`, `stage '${n}'`, n, names, 'needs lists stages of this pipeline').diagnostics);
  });
  for (const r of stageRefs(params)) {
    if (!names.includes(r)) errors.push(...unknownName(doc, `${base}/with`, `stage '${r}' in \${{ stages.${r}.out }}`, r, names, 'reference a stage of this pipeline').diagnostics);
    else if (!needs.includes(r)) needs.push(r);
  }
  if (needs.includes(name)) errors.push({ loc: locate(doc.origins, `${base}/needs`), keyPath: dotted(`${base}/needs`), message: `stage '${name}' needs itself`, fix: 'remove it from its own needs' });
  const kind = await loadKind(kindName);
  const persistentWork = typeof kind.persistentWork === 'function' ? kind.persistentWork(params) : kind.persistentWork === true;
  if (usesWorkRef(params) && !persistentWork) {
    errors.push({ loc: locate(doc.origins, `${base}/with`), keyPath: dotted(`${base}/with`), message: `\${{ work }} is used, but stage '${name}' has no persistent work folder`, fix: kindName === 'command' ? 'add persistent_work: true to its parameters' : `the '${kindName}' stage kind has no work folder; write to \${{ out }} instead` });
  }
  if (errors.length > 0) throw new ConfigError(errors);
  return {
    name,
    kind: kindName,
    kindVersion: kind.version,
    needs,
    params,
    resources: { ...(typeof kind.resources === 'function' ? kind.resources(params) : kind.resources), ...((def.resources ?? {}) as Resources) },
    persistentWork,
    ...(kind.workParams ? { workParams: kind.workParams(params) as JsonObject } : {}),
    compute: kind.compute === true,
    ...(kind.headline ? { headline: kind.headline } : {}),
    verify: verifyPolicy(kind.reproducible, def.verify as { compare?: 'exact' | 'metrics' | 'none'; tolerance?: number } | undefined),
  };
}

export interface VerifyPolicy {
  compare: 'exact' | 'metrics' | 'none';
  /** Outputs (globs) compared byte for byte when compare is 'exact'. */
  outputs: string[];
  /** Metrics (globs) held to the tolerance; with 'exact', only those the kind names. */
  metrics: string[];
  tolerance: number;
}

function verifyPolicy(r: StageKind['reproducible'], over: { compare?: 'exact' | 'metrics' | 'none'; tolerance?: number } | undefined): VerifyPolicy {
  const base = r === undefined || r === 'exact' ? { compare: 'exact' as const, outputs: ['**'], metrics: [] } : r === 'none' ? { compare: 'none' as const, outputs: [], metrics: [] } : { compare: 'exact' as const, ...r };
  const compare = over?.compare ?? base.compare;
  // Held to metrics only: the kind's reproducible metrics, or every metric it reports.
  const metrics = compare === 'metrics' && base.metrics.length === 0 ? ['*'] : base.metrics;
  return { compare, outputs: base.outputs, metrics, tolerance: over?.tolerance ?? 0 };
}

function unknownName(doc: Sourced, ptr: string, what: string, name: string, known: string[], fix: string): ConfigError {
  const guess = didYouMean(name, known);
  return ConfigError.one({
    loc: locate(doc.origins, ptr),
    keyPath: dotted(ptr),
    message: `unknown ${what}` + (guess ? `; did you mean '${guess}'?` : ''),
    fix: `${fix}: ${known.join(', ') || '(none)'}`,
  });
}
