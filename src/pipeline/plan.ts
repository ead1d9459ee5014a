// What a run would do, and why. Pure: the keys and the store's answers come in as data, so the
// planner is tested without running anything.
import { diffComponents } from './changes.js';
import type { KeyComponents, StageKey } from './key.js';

export type Lookup = { status: 'hit' } | { status: 'miss' } | { status: 'corrupt'; reason: string };

export interface PlanEntry {
  name: string;
  kind: string;
  key: string;
  action: 'cached' | 'run';
  /** Re-run on request (--force) although it may be cached. */
  forced: boolean;
  reasons: string[];
}

export interface PlanInput {
  order: readonly string[];
  kinds: Record<string, string>;
  keys: Record<string, StageKey>;
  lookups: Record<string, Lookup>;
  /** Stage names to re-run although cached, or 'all'. */
  force: ReadonlySet<string> | 'all';
  /** Key components of each stage in the pipeline's previous run, when there was one. */
  previous?: Record<string, KeyComponents | undefined>;
}

export function plan(input: PlanInput): PlanEntry[] {
  return input.order.map((name) => {
    const { key, components } = input.keys[name]!;
    const lookup = input.lookups[name] ?? { status: 'miss' };
    const forced = input.force === 'all' || input.force.has(name);
    const base = { name, kind: input.kinds[name]!, key, forced };
    if (lookup.status === 'hit' && !forced) return { ...base, action: 'cached', reasons: ['inputs, parameters and code unchanged; result in the store'] };
    const reasons: string[] = [];
    if (forced) reasons.push('forced (--force)');
    if (lookup.status === 'corrupt') reasons.push(`its stored result was corrupt and was moved to the trash: ${lookup.reason}`);
    if (lookup.status === 'miss') reasons.push(...missReasons(components, input.previous?.[name]));
    return { ...base, action: 'run', reasons };
  });
}

function missReasons(now: KeyComponents, before: KeyComponents | undefined): string[] {
  if (!before) return ['no stored result for this key (first run of this stage)'];
  const changes = diffComponents(before, now);
  if (changes.length === 0) return ['no stored result for this key (the last run did not finish it, or the store was cleaned)'];
  return changes.map((c) => c.text);
}
