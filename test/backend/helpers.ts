// Shared bits of the backend tests: temp dirs and running a snippet in a fresh node process
// (backend choice is per process, see src/backend/tf.ts, so isolation needs a child).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { execa } from 'execa';
import { setup } from '../../src/backend/setup.js';

export async function tempDir(prefix = 'facepipe-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** URL of a compiled module under dist/src/backend, for `import()` inside child scripts. */
export const backendModule = (name: string): string => new URL(`../../src/backend/${name}`, import.meta.url).href;

/** Runs an ES-module snippet in a fresh node with the given env additions. */
export async function runChild(code: string, env: Record<string, string | undefined>) {
  return execa(process.execPath, ['--input-type=module', '-e', code], {
    env, extendEnv: true, reject: false, timeout: 120_000,
  });
}

/** The real cached CPU build (set up if needed), or '' when the project's own tfjs-node is used. */
export async function realBuild(): Promise<string> {
  const r = await setup({ gpu: false, force: false, log: () => {} });
  return r.status === 'already-native' ? '' : r.installDir;
}

/** Hard-linked copy of a build dir: instant and free. Replace (never overwrite in place) any
 *  file of the copy that a test changes, or the real build changes with it. */
export async function linkCopy(src: string, dst: string): Promise<void> {
  await execa('cp', ['-al', src, dst]);
}

/** Runs fn with some environment variables set (undefined = unset), restoring them after. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>): void => {
    for (const [k, x] of Object.entries(v)) if (x === undefined) delete process.env[k]; else process.env[k] = x;
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}
