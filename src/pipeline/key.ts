// The stage cache key: a sha256 over a documented list of components. Two runs of a stage with
// equal keys must be interchangeable, so everything that can change its outputs is in here — and
// nothing that cannot (paths of the runs folder, stage names, scheduling), or caches would miss
// for no reason.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import { inputPaths, loadSchema } from '../config/schemas.js';
import { dotted, locate, pointer, type Json } from '../config/sourced.js';
import type { Pipeline } from '../config/pipeline.js';
import type { Digester } from '../store/digest.js';

export interface KeyComponents {
  /** Bumped when this definition changes, so old keys can never collide with new ones. */
  format: 1;
  /** The stage kind, and its implementation version (StageKind.version): new code, new outputs. */
  kind: string;
  kindVersion: string;
  /**
   * The resolved parameters. Run-time references (`${{ stages.X.out }}`, `${{ out }}`) stay
   * symbolic: what they point at is covered by `upstream`, and the runs folder's location is not
   * part of a result's identity.
   */
  params: Json;
  /** Keys of the stages it needs: any upstream change reaches every stage downstream. */
  upstream: Record<string, string>;
  /**
   * Content digests of the input files and folders its parameters name (schema `inputPath`), by
   * the path as written. Contents, not mtimes: touching a file does not invalidate anything.
   */
  inputs: Record<string, string>;
}

export interface StageKey {
  key: string;
  components: KeyComponents;
  /** The work directory's key, when the kind leaves some parameters out of it (else `key`). */
  workKey?: string;
}

/** JSON with object keys sorted, so equal values always hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function hashComponents(c: KeyComponents): string {
  return createHash('sha256').update(canonicalJson(c)).digest('hex');
}

/** Keys of every stage, upstream first. Reads input files only when the stat cache misses. */
export async function computeKeys(p: Pipeline, digester: Digester): Promise<Record<string, StageKey>> {
  const keys: Record<string, StageKey> = {};
  for (const name of p.order) {
    const s = p.stages[name]!;
    const inputs: Record<string, string> = {};
    for (const rel of inputPaths(loadSchema(`stages/${s.kind}`).schema, s.params)) {
      if (rel.includes('${{')) continue; // an upstream output: covered by its stage key
      inputs[rel] = await digestInput(p, name, rel, digester);
    }
    const upstream = Object.fromEntries(s.needs.map((n) => [n, keys[n]!.key]));
    const components: KeyComponents = { format: 1, kind: s.kind, kindVersion: s.kindVersion, params: s.params, upstream, inputs };
    const workKey = s.workParams ? hashComponents({ ...components, params: s.workParams }) : undefined;
    keys[name] = { key: hashComponents(components), components, ...(workKey ? { workKey } : {}) };
  }
  return keys;
}

async function digestInput(p: Pipeline, stage: string, rel: string, digester: Digester): Promise<string> {
  const abs = path.resolve(p.baseDir, rel);
  try {
    return (await digester.tree(abs)).digest;
  } catch (e) {
    const ptr = pointer(['stages', stage, 'with']);
    throw ConfigError.one({
      loc: locate(p.doc.origins, ptr),
      keyPath: dotted(ptr),
      message: `input '${rel}' of stage '${stage}' cannot be read (${abs}): ${(e as Error).message}`,
      fix: 'create the file, fix the path (relative to the pipeline file), or produce it with an upstream stage and refer to it as ${{ stages.X.out }}/…',
    });
  }
}
