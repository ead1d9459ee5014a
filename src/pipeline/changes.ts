// What changed in a stage's key since an earlier run, in words a user can act on.
import { canonicalJson, type KeyComponents } from './key.js';

export interface Change {
  component: 'kind' | 'params' | 'upstream' | 'inputs';
  /** Dotted path of a parameter, an upstream stage name or an input path. */
  what: string;
  before?: unknown;
  after?: unknown;
  text: string;
}

const show = (v: unknown) => (v === undefined ? '(absent)' : truncate(JSON.stringify(v)));
const truncate = (s: string) => (s.length > 60 ? s.slice(0, 57) + '...' : s);

/** Two values side by side; for long strings only the part that differs, with some context. */
function showChange(a: unknown, b: unknown): string {
  if (typeof a !== 'string' || typeof b !== 'string' || (a.length <= 60 && b.length <= 60)) return `${show(a)} → ${show(b)}`;
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const ctx = 15;
  const cut = (s: string) => {
    const from = Math.max(0, pre - ctx);
    const to = Math.min(s.length, s.length - suf + ctx);
    return `${from > 0 ? '…' : ''}${truncate(s.slice(from, to))}${to < s.length ? '…' : ''}`;
  };
  return `${JSON.stringify(cut(a))} → ${JSON.stringify(cut(b))}`;
}

export function diffComponents(before: KeyComponents, after: KeyComponents): Change[] {
  const changes: Change[] = [];
  if (before.kind !== after.kind || before.kindVersion !== after.kindVersion) {
    changes.push({
      component: 'kind',
      what: after.kind,
      before: `${before.kind}@${before.kindVersion}`,
      after: `${after.kind}@${after.kindVersion}`,
      text: `stage implementation changed: ${before.kind} v${before.kindVersion} → ${after.kind} v${after.kindVersion}`,
    });
  }
  for (const [path, b, a] of leafDiff(before.params, after.params, 'with')) {
    changes.push({ component: 'params', what: path, before: b, after: a, text: `parameter ${path}: ${showChange(b, a)}` });
  }
  for (const name of keysOf(before.upstream, after.upstream)) {
    const b = before.upstream[name];
    const a = after.upstream[name];
    if (b === a) continue;
    const text = b === undefined ? `now needs stage '${name}'` : a === undefined ? `no longer needs stage '${name}'` : `upstream stage '${name}' changed`;
    changes.push({ component: 'upstream', what: name, before: b, after: a, text });
  }
  for (const p of keysOf(before.inputs, after.inputs)) {
    const b = before.inputs[p];
    const a = after.inputs[p];
    if (b === a) continue;
    const text = b === undefined ? `new input ${p}` : a === undefined ? `input ${p} removed` : `input ${p} changed (content digest ${b.slice(7, 19)} → ${a.slice(7, 19)})`;
    changes.push({ component: 'inputs', what: p, before: b, after: a, text });
  }
  return changes;
}

function keysOf(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

function leafDiff(a: unknown, b: unknown, path: string): [string, unknown, unknown][] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) return keysOf(a, b).flatMap((k) => leafDiff(a[k], b[k], `${path}.${k}`));
  return canonicalJson(a) === canonicalJson(b) ? [] : [[path, a, b]];
}
