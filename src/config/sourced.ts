// A plain JSON-like value together with where each part of it came from, so that errors found
// after merging, overriding and interpolating still point at the right file:line:col.
import type { Loc } from './diagnostics.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** Locations keyed by JSON pointer ('' is the root). `keys` holds where a map key was written. */
export interface Origins {
  values: Map<string, Loc>;
  keys: Map<string, Loc>;
}

export interface Sourced<T extends Json = Json> {
  value: T;
  origins: Origins;
}

export function emptyOrigins(): Origins {
  return { values: new Map(), keys: new Map() };
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const unescape = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');

export function pointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => '/' + escape(String(s))).join('');
}

export function segments(ptr: string): string[] {
  return ptr === '' ? [] : ptr.slice(1).split('/').map(unescape);
}

/** `stages.train.with.lr` — the form users write in -S and see in messages. */
export function dotted(ptr: string): string {
  return segments(ptr).join('.');
}

export function getAt(value: Json, ptr: string): Json | undefined {
  let cur: Json | undefined = value;
  for (const s of segments(ptr)) {
    if (Array.isArray(cur)) cur = cur[Number(s)];
    else if (isObject(cur)) cur = Object.hasOwn(cur, s) ? cur[s] : undefined;
    else return undefined;
  }
  return cur;
}

/** The location of `ptr`, or of its nearest ancestor that has one. */
export function locate(origins: Origins, ptr: string, preferKey = false): Loc | undefined {
  let p = ptr;
  for (;;) {
    const loc = (preferKey ? origins.keys.get(p) : undefined) ?? origins.values.get(p);
    if (loc) return loc;
    if (p === '') return undefined;
    p = p.slice(0, p.lastIndexOf('/'));
  }
}

function isUnder(ptr: string, prefix: string): boolean {
  return prefix === '' || ptr === prefix || ptr.startsWith(prefix + '/');
}

/** Drops every origin at or below `prefix`. */
export function clearOrigins(o: Origins, prefix: string): void {
  for (const m of [o.values, o.keys]) {
    for (const k of [...m.keys()]) if (isUnder(k, prefix) && k !== prefix) m.delete(k);
    m.delete(prefix);
  }
}

/** Copies the origins of `from`'s subtree at `fromPtr` to `to` at `toPtr`. */
export function copyOrigins(from: Origins, fromPtr: string, to: Origins, toPtr: string): void {
  for (const [src, dst] of [[from.values, to.values], [from.keys, to.keys]] as const) {
    for (const [k, loc] of src) {
      if (isUnder(k, fromPtr)) dst.set(toPtr + k.slice(fromPtr.length), loc);
    }
  }
}

export function clone<T extends Json>(v: T): T {
  return structuredClone(v);
}

/**
 * Deep-merges `overlay` into `base` (objects merge key by key; lists and scalars replace), with
 * origins following the values. Neither input is modified.
 */
export function merge(base: Sourced, overlay: Sourced): Sourced {
  const origins = emptyOrigins();
  copyOrigins(base.origins, '', origins, '');
  const value = mergeAt(clone(base.value), overlay, '', origins);
  return { value, origins };
}

function mergeAt(base: Json, overlay: Sourced, ptr: string, origins: Origins): Json {
  const over = getAt(overlay.value, ptr) as Json;
  if (!isObject(base) || !isObject(over)) {
    clearOrigins(origins, ptr);
    copyOrigins(overlay.origins, ptr, origins, ptr);
    return clone(over);
  }
  const keyLoc = overlay.origins.keys.get(ptr);
  if (keyLoc) origins.keys.set(ptr, keyLoc);
  for (const k of Object.keys(over)) {
    const child = ptr + pointer([k]);
    base[k] = k in base ? mergeAt(base[k] as Json, overlay, child, origins) : fresh(overlay, child, origins);
  }
  return base;
}

function fresh(overlay: Sourced, ptr: string, origins: Origins): Json {
  copyOrigins(overlay.origins, ptr, origins, ptr);
  return clone(getAt(overlay.value, ptr) as Json);
}
