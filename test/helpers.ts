// Shared test helpers: temp folders, files, and the CLI run as a real child process.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { TestContext } from 'node:test';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = path.join(repoRoot, 'bin', 'facepipe.js');
export const sharedData = path.resolve(repoRoot, '..', 'shared', 'data');

/** A fresh folder, removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'facepipe-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `files` (relative path → text) under `dir`. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
}

/** Runs `facepipe <args>` in `cwd`; never rejects. */
export function facepipe(args: string[], opts: { cwd: string; env?: Record<string, string> }): ResultPromise<{ reject: false; cwd: string; env: Record<string, string>; all: true }> {
  return execa(process.execPath, [cliPath, ...args], {
    reject: false,
    cwd: opts.cwd,
    env: { CI: '1', ...opts.env },
    all: true,
  });
}
