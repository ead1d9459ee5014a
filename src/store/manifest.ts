// manifest.json: what a finished store entry is. It is written last, so its presence (with a
// matching checksum) is what makes an entry finished.
import { createHash } from 'node:crypto';
import type { FileEntry } from './digest.js';

export type ManifestMetric = number | string | boolean | null;

export interface Manifest {
  format: 1;
  key: string;
  stage: string;
  kind: string;
  /** The cache key's components, for `facepipe why`-style explanations; not re-validated here. */
  components: unknown;
  /** Every file of `out/`, sorted by path. */
  files: FileEntry[];
  metrics: Record<string, ManifestMetric>;
  timings: { startedAt: string; finishedAt: string; seconds: number };
  environment: Record<string, unknown>;
  /** sha256 of the canonical JSON of the manifest without this field. */
  checksum: string;
}

export type ManifestMeta = Omit<Manifest, 'format' | 'files' | 'checksum'>;

/**
 * JSON with object keys sorted at every level and no whitespace, so that equal values always give
 * equal text (and checksums) whatever order the fields were built in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

export function manifestChecksum(body: Omit<Manifest, 'checksum'>): string {
  return `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
}

/**
 * Builds the manifest as it will read back from disk: a JSON round trip first turns NaN metrics
 * into null and drops undefined fields, so the checksum is computed over what is actually stored.
 */
export function buildManifest(meta: ManifestMeta, files: FileEntry[]): Manifest {
  // Fields are picked one by one: a stray `checksum` or `files` in meta must not end up stored.
  const { key, stage, kind, components, metrics, timings, environment } = meta;
  const fields = { format: 1, key, stage, kind, components, files, metrics, timings, environment };
  const body = JSON.parse(JSON.stringify(fields)) as Omit<Manifest, 'checksum'>;
  return { ...body, checksum: manifestChecksum(body) };
}

export type ParsedManifest = { ok: true; manifest: Manifest } | { ok: false; reason: string };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** Parses and checks manifest.json text; `reason` says what is wrong, for the corrupt-entry log. */
export function parseManifest(text: string, expectedKey: string): ParsedManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `manifest.json is not valid JSON (${(e as Error).message})` };
  }
  const shape = shapeError(v);
  if (shape) return { ok: false, reason: `manifest.json: ${shape}` };
  const m = v as Manifest;
  const { checksum, ...body } = m;
  if (manifestChecksum(body) !== checksum) return { ok: false, reason: 'manifest.json checksum does not match its content (edited or damaged)' };
  if (m.key !== expectedKey) return { ok: false, reason: `manifest.json is for key ${m.key}, not ${expectedKey}` };
  return { ok: true, manifest: m };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeError(v: unknown): string | undefined {
  if (!isRecord(v)) return 'expected an object';
  if (v.format !== 1) return `unsupported format ${JSON.stringify(v.format)} (expected 1)`;
  for (const k of ['key', 'stage', 'kind', 'checksum'] as const) {
    if (typeof v[k] !== 'string') return `${k} must be a string`;
  }
  if (!isRecord(v.metrics) || !isRecord(v.environment) || !isRecord(v.timings)) return 'metrics, environment and timings must be objects';
  if (!Array.isArray(v.files)) return 'files must be an array';
  const seen = new Set<string>();
  for (const f of v.files as unknown[]) {
    const err = fileEntryError(f);
    if (err) return `files: ${err}`;
    const p = (f as FileEntry).path;
    if (seen.has(p)) return `files: ${p} is listed twice`;
    seen.add(p);
  }
  return undefined;
}

function fileEntryError(f: unknown): string | undefined {
  if (!isRecord(f) || typeof f.path !== 'string') return 'an entry without a path';
  const p = f.path;
  // Paths are joined to out/: anything that could step outside it is refused, not normalized.
  if (p === '' || p.startsWith('/') || p.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    return `unsafe path ${JSON.stringify(p)}`;
  }
  if (!Number.isSafeInteger(f.size) || (f.size as number) < 0) return `${p}: bad size`;
  if (typeof f.digest !== 'string' || !DIGEST_RE.test(f.digest)) return `${p}: bad digest`;
  if (typeof f.mtimeNs !== 'string' || typeof f.ctimeNs !== 'string' || typeof f.ino !== 'number') return `${p}: bad stat`;
  return undefined;
}
