// Stage kinds: one folder per kind under stages/, compiled to dist/stages/<kind>/index.js, with its
// parameter schema in schemas/stages/<kind>.schema.json.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stagesDir } from '../paths.js';
import { schemaPath } from '../config/schemas.js';
import type { StageKind } from '../stage-api.js';

export function listKinds(): string[] {
  if (!existsSync(stagesDir)) return [];
  return readdirSync(stagesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(stagesDir, d.name, 'index.js')) && existsSync(schemaPath(`stages/${d.name}`)))
    .map((d) => d.name)
    .sort();
}

export function kindExists(name: string): boolean {
  return listKinds().includes(name);
}

const loaded = new Map<string, StageKind>();

export async function loadKind(name: string): Promise<StageKind> {
  let kind = loaded.get(name);
  if (!kind) {
    const mod = (await import(pathToFileURL(path.join(stagesDir, name, 'index.js')).href)) as { kind?: StageKind };
    if (!mod.kind || typeof mod.kind.run !== 'function' || typeof mod.kind.version !== 'string') {
      throw new Error(`stages/${name}/index.ts must export \`kind: StageKind\` (version, description, run)`);
    }
    kind = mod.kind;
    loaded.set(name, kind);
  }
  return kind;
}
