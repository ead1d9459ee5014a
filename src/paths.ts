// Where facepipe's own files (schemas, stage kinds, default pipelines) are, wherever it is installed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'facepipe') return dir;
    if (path.dirname(dir) === dir) throw new Error(`facepipe: cannot find its package.json above ${start}`);
  }
}

export const packageRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** Compiled stage kinds: dist/stages/<kind>/index.js. */
export const stagesDir = path.join(packageRoot, 'dist', 'stages');

export const facepipeVersion = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
