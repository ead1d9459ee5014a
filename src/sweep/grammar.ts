// Sweep values, Hydra-like: `a,b,c` and `choice(a,b,c)` (categorical), `range(start,stop[,step])`
// (stop excluded, as Python's and Hydra's), and `interval(low,high)` (continuous, for random
// sampling only). Each value is read as YAML, so numbers stay numbers.
import { parse as parseYaml } from 'yaml';
import type { Json } from '../config/sourced.js';

export type Domain =
  | { kind: 'values'; values: Json[] }
  | { kind: 'interval'; low: number; high: number };

/** Splits on commas outside brackets and quotes. */
export function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = '';
  let cur = '';
  for (const c of s) {
    if (quote) quote = c === quote ? '' : quote;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{' || c === '(') depth++;
    else if (c === ']' || c === '}' || c === ')') depth--;
    if (c === ',' && depth === 0 && !quote) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((x) => x.trim());
}

const scalar = (s: string): Json => (s === '' ? '' : (parseYaml(s) as Json));

function numbers(args: string[], fn: string): number[] {
  const ns = args.map(Number);
  if (ns.some((n) => !Number.isFinite(n))) throw new Error(`${fn}() takes numbers, got ${args.join(', ')}`);
  return ns;
}

/** `range(0.3, 0.6, 0.1)` → [0.3, 0.4, 0.5], computed as start + i·step and rounded to 12 digits. */
function range(args: string[]): number[] {
  const [a, b, c] = numbers(args, 'range');
  const [start, stop, step] = args.length === 1 ? [0, a!, 1] : [a!, b!, c ?? 1];
  if (!(step !== 0) || args.length > 3) throw new Error('range() takes (stop), (start, stop) or (start, stop, step) with step ≠ 0');
  const out: number[] = [];
  for (let i = 0; ; i++) {
    const v = Number((start + i * step).toPrecision(12));
    if (step > 0 ? v >= stop - Math.abs(step) * 1e-9 : v <= stop + Math.abs(step) * 1e-9) break;
    out.push(v);
    if (out.length > 100_000) throw new Error('range() makes more than 100000 values');
  }
  if (out.length === 0) throw new Error(`range(${args.join(', ')}) is empty`);
  return out;
}

/** The domain of a sweep value, or undefined when `raw` is a single value. */
export function parseDomain(raw: string): Domain | undefined {
  const fn = /^\s*(range|choice|interval)\s*\((.*)\)\s*$/s.exec(raw);
  if (fn) {
    const args = splitTopLevel(fn[2]!);
    if (fn[1] === 'range') return { kind: 'values', values: range(args) };
    if (fn[1] === 'choice') return { kind: 'values', values: args.map(scalar) };
    const [low, high] = numbers(args, 'interval');
    if (args.length !== 2 || !(low! < high!)) throw new Error('interval() takes (low, high) with low < high');
    return { kind: 'interval', low: low!, high: high! };
  }
  const parts = splitTopLevel(raw);
  return parts.length > 1 ? { kind: 'values', values: parts.map(scalar) } : undefined;
}

/** A YAML `sweep.params` entry: a list, or a grammar string such as 'range(1, 4)'. */
export function domainOf(v: Json): Domain {
  if (Array.isArray(v)) return { kind: 'values', values: v };
  if (typeof v === 'string') {
    const d = parseDomain(v);
    if (d) return d;
  }
  return { kind: 'values', values: [v] };
}
