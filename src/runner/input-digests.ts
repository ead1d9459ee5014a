// Content digests of a stage's input paths, from what the runner already knows — the cache key's
// input digests, and upstream manifests — so a stage can record its sources' provenance without
// reading multi-GB inputs a second time.
import path from 'node:path';
import { inputPaths, loadSchema } from '../config/schemas.js';
import type { StageKey } from '../pipeline/key.js';
import type { PipelineStage } from '../pipeline/stages.js';
import { treeDigest, type FileEntry } from '../store/digest.js';

const UPSTREAM = /^\$\{\{\s*stages\.([A-Za-z][A-Za-z0-9_-]*)\.out\s*\}\}\/?(.*)$/;

/** Absolute input path → digest, for every `inputPath` parameter whose digest is known. */
export function inputDigests(stage: PipelineStage, key: StageKey, upstream: Record<string, { outDir: string; files?: FileEntry[] }>, baseDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of inputPaths(loadSchema(`stages/${stage.kind}`).schema, stage.params)) {
    const m = UPSTREAM.exec(raw);
    if (m) {
      const u = upstream[m[1]!];
      const d = u?.files ? subtreeDigest(u.files, m[2]!) : undefined;
      if (u && d) out[path.resolve(u.outDir, m[2]!)] = d;
    } else if (key.components.inputs[raw]) {
      out[path.resolve(baseDir, raw)] = key.components.inputs[raw]!;
    }
  }
  return out;
}

/** The digest `Digester.tree` would give for `rel` inside an output whose files are listed. */
function subtreeDigest(files: FileEntry[], rel: string): string | undefined {
  const r = rel.replace(/\/+$/, '');
  if (r === '') return treeDigest(files);
  const exact = files.find((f) => f.path === r);
  if (exact) return exact.digest;
  const under = files.filter((f) => f.path.startsWith(`${r}/`)).map((f) => ({ ...f, path: f.path.slice(r.length + 1) }));
  return under.length > 0 ? treeDigest(under) : undefined;
}
