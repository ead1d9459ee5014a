// A sweep → its trials. Grid: every combination, in the order the dimensions were given. Random:
// `trials` seeded draws (without repeats when every dimension is discrete). A trial is just a set
// of overrides; its identity is its stage keys, so re-expanding a sweep finds the same trials and
// their cached (or resumable) stages.
import type { Json } from '../config/sourced.js';
import type { Override } from '../config/overrides.js';
import { Rng } from '../util/random.js';
import type { Domain } from './grammar.js';

export interface SweepDim {
  /** The key as written, e.g. `train.lr` or `+train.extra`. */
  key: string;
  domain: Domain;
}

export interface SweepSpec {
  mode: 'grid' | 'random';
  /** Random mode: how many trials. */
  trials?: number;
  seed: number;
  /** Trials run at once. */
  parallel: number;
  dims: SweepDim[];
}

export interface Trial {
  index: number;
  /** key → value of this trial. */
  assignments: Record<string, Json>;
  overrides: Override[];
}

function toOverride(key: string, value: Json): Override {
  const add = key.startsWith('+');
  const path = (add ? key.slice(1) : key).split('.');
  return { text: `${key}=${JSON.stringify(value)}`, path, value, add };
}

function trial(index: number, keys: string[], values: Json[]): Trial {
  const assignments = Object.fromEntries(keys.map((k, i) => [k, values[i]!]));
  return { index, assignments, overrides: keys.map((k, i) => toOverride(k, values[i]!)) };
}

function product(lists: Json[][]): Json[][] {
  return lists.reduce<Json[][]>((acc, list) => acc.flatMap((prefix) => list.map((v) => [...prefix, v])), [[]]);
}

export function expand(spec: SweepSpec): Trial[] {
  const keys = spec.dims.map((d) => d.key);
  if (spec.mode === 'grid') {
    const lists = spec.dims.map((d) => {
      if (d.domain.kind === 'interval') throw new Error(`${d.key}: interval() needs random sampling (sweep mode: random)`);
      return d.domain.values;
    });
    return product(lists).map((values, i) => trial(i, keys, values));
  }
  const n = spec.trials;
  if (!n) throw new Error('a random sweep needs a trial budget (sweep.trials)');
  const rng = Rng.seeded(spec.seed);
  if (spec.dims.every((d) => d.domain.kind === 'values')) {
    // All discrete: draw distinct combinations.
    const all = product(spec.dims.map((d) => (d.domain as { values: Json[] }).values));
    return rng.shuffle(all).slice(0, n).map((values, i) => trial(i, keys, values));
  }
  const draw = (d: SweepDim): Json => {
    if (d.domain.kind === 'values') return d.domain.values[rng.int(0, d.domain.values.length - 1)]!;
    const v = d.domain.low + rng.float() * (d.domain.high - d.domain.low);
    const short = Number(v.toPrecision(6)); // readable in tables, unless rounding reaches the (open) upper end
    return short < d.domain.high ? short : v;
  };
  return Array.from({ length: n }, (_, i) => trial(i, keys, spec.dims.map(draw)));
}
