// `${{ … }}` references inside pipeline values.
//
// - `${{ config.a.b }}` is replaced while loading. Written as the whole value it keeps its type
//   (a number stays a number, a mapping is copied in); inside a longer string it must be a scalar.
// - `${{ stages.X.out }}`, `${{ out }}` and `${{ work }}` name directories that only exist at run
//   time. They stay in the parameters as written, so cache keys never contain machine-specific
//   paths, and are replaced just before the stage starts.
import { ConfigError } from './diagnostics.js';
import { copyOrigins, clearOrigins, dotted, getAt, isObject, locate, pointer, type Json, type Sourced } from './sourced.js';

const REF = /\$\{\{\s*([^}]*?)\s*\}\}/g;
const WHOLE = /^\$\{\{\s*([^}]*?)\s*\}\}$/;
const RUNTIME = /^(stages\.([A-Za-z][A-Za-z0-9_-]*)\.out|out|work)$/;

/** Stage names referenced as `${{ stages.X.out }}` anywhere inside `v`. */
export function stageRefs(v: Json): string[] {
  const found = new Set<string>();
  visitStrings(v, (s) => {
    for (const m of s.matchAll(REF)) {
      const r = RUNTIME.exec(m[1]!);
      if (r?.[2]) found.add(r[2]);
    }
  });
  return [...found];
}

/** Whether `${{ work }}` appears anywhere inside `v`. */
export function usesWorkRef(v: Json): boolean {
  let found = false;
  visitStrings(v, (s) => {
    for (const m of s.matchAll(REF)) if (m[1] === 'work') found = true;
  });
  return found;
}

function visitStrings(v: Json, f: (s: string) => void): void {
  if (typeof v === 'string') f(v);
  else if (Array.isArray(v)) v.forEach((x) => visitStrings(x, f));
  else if (isObject(v)) Object.values(v).forEach((x) => visitStrings(x, f));
}

/** Replaces every `${{ config.… }}` under `rootPtr` in `doc` (whose config lives at /config). */
export function resolveConfigRefs(doc: Sourced, rootPtr: string): void {
  const resolving = new Set<string>();
  const resolveAt = (ptr: string): void => {
    const v = getAt(doc.value, ptr);
    if (typeof v === 'string') resolveString(ptr, v);
    else if (Array.isArray(v)) v.forEach((_, i) => resolveAt(ptr + pointer([i])));
    else if (isObject(v)) Object.keys(v).forEach((k) => resolveAt(ptr + pointer([k])));
  };
  const target = (expr: string, ptr: string): string => {
    const path = expr.slice('config.'.length).split('.');
    const src = '/config' + pointer(path);
    if (getAt(doc.value, src) === undefined) throw badRef(doc, ptr, `'${expr}' does not exist`, 'check the key with `facepipe config <pipeline>`');
    if (resolving.has(src)) throw badRef(doc, ptr, `'${expr}' refers to itself (a reference cycle)`, 'break the cycle');
    resolving.add(src);
    resolveAt(src);
    resolving.delete(src);
    return src;
  };
  const resolveString = (ptr: string, s: string): void => {
    const whole = WHOLE.exec(s);
    if (whole && whole[1]!.startsWith('config.')) {
      const src = target(whole[1]!, ptr);
      setAt(doc, ptr, structuredClone(getAt(doc.value, src)) as Json);
      clearOrigins(doc.origins, ptr);
      copyOrigins(doc.origins, src, doc.origins, ptr);
      return;
    }
    const out = s.replace(REF, (all, expr: string) => {
      if (RUNTIME.test(expr)) return all;
      if (!expr.startsWith('config.')) {
        throw badRef(doc, ptr, `unknown reference '\${{ ${expr} }}'`, 'references are ${{ config.<key path> }}, ${{ stages.<name>.out }}, ${{ out }} and ${{ work }}');
      }
      const v = getAt(doc.value, target(expr, ptr));
      if (typeof v === 'object' && v !== null) {
        throw badRef(doc, ptr, `'${expr}' is ${Array.isArray(v) ? 'a list' : 'a mapping'} and cannot be part of a string`, 'make the reference the whole value, or point at a scalar');
      }
      return String(v);
    });
    if (out !== s) setAt(doc, ptr, out);
  };
  resolveAt(rootPtr);
}

function setAt(doc: Sourced, ptr: string, v: Json): void {
  const i = ptr.lastIndexOf('/');
  const parent = getAt(doc.value, ptr.slice(0, i)) as Record<string, Json> | Json[];
  const key = ptr.slice(i + 1).replace(/~1/g, '/').replace(/~0/g, '~');
  (parent as Record<string, Json>)[key] = v;
}

function badRef(doc: Sourced, ptr: string, message: string, fix: string): ConfigError {
  return ConfigError.one({ loc: locate(doc.origins, ptr), keyPath: dotted(ptr), message, fix });
}

/** Replaces the run-time references with real directories just before a stage runs. */
export function bindRuntimeRefs(v: Json, dirs: { out: string; work?: string; stages: Record<string, string> }): Json {
  if (typeof v === 'string') {
    return v.replace(REF, (all, expr: string) => {
      const r = RUNTIME.exec(expr);
      if (!r) return all;
      if (r[2] !== undefined) return dirs.stages[r[2]] ?? all;
      if (expr === 'out') return dirs.out;
      return dirs.work ?? all;
    });
  }
  if (Array.isArray(v)) return v.map((x) => bindRuntimeRefs(x, dirs));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bindRuntimeRefs(x, dirs)]));
  return v;
}
