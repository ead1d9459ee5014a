// Making a finished build visible. The rule that keeps an interrupted or broken setup from ever
// looking finished: a build is assembled in a staging dir, verified there, stamped only when
// verification passed, and only then renamed to its final name. A dir without a stamp (or a
// staging dir left by a crash) is never used.
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { stampPath } from './paths.js';
import type { VerifyResult } from './verify.js';

export interface Stamp {
  variant: 'cpu' | 'gpu';
  npmPackage: string;
  tfjsNodeVersion: string;
  tensorflowVersion: string;
  /** TF_Version() as reported by the library during verification. */
  tensorflowRuntimeVersion: string;
  wheel: string;
  node: string;
  nodeAbi: string;
  napi: string;
  platform: string;
  arch: string;
  builtAt: string;
  buildSeconds: number;
}

export async function readStamp(dir: string): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await readFile(stampPath(dir), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

export interface CommitOptions {
  staging: string;
  target: string;
  /** Checks the staged build; usually verifyNative on the staged package dir. */
  verify: (stagingDir: string) => Promise<VerifyResult>;
  /** Stamp contents except what verification reports. */
  stamp: Omit<Stamp, 'tensorflowRuntimeVersion'>;
  log: (l: string) => void;
}

/** Verifies the staged build, stamps it and swaps it in for any previous build at target.
 *  Throws (leaving target untouched and the staging dir unstamped) when verification fails. */
export async function commitBuild(o: CommitOptions): Promise<Stamp> {
  o.log('verifying the build in a fresh node process');
  const v = await o.verify(o.staging);
  if (!v.ok) {
    throw new Error(`the freshly built binding does not work, so it was not installed: ${v.error ?? 'unknown error'}`);
  }
  o.log(`verified: backend '${v.backend}', TensorFlow ${v.tensorflowVersion ?? '?'}`);
  const stamp: Stamp = { ...o.stamp, tensorflowRuntimeVersion: v.tensorflowVersion ?? 'unknown' };
  // Written then renamed so the stamp file itself is never half-written.
  await writeFile(stampPath(o.staging) + '.tmp', JSON.stringify(stamp, null, 2) + '\n');
  await rename(stampPath(o.staging) + '.tmp', stampPath(o.staging));

  // Renaming a dir over a non-empty dir is not possible, so an old build is first moved aside
  // (one rename) and deleted after the new one is in place. RUNPATH and the lib symlinks are
  // relative, so the renamed build works from its new path.
  let old: string | undefined;
  if (existsSync(o.target)) {
    old = join(dirname(o.target), `.old-${basename(o.target)}-${process.pid}-${Date.now()}`);
    await rename(o.target, old);
  }
  await rename(o.staging, o.target);
  if (old) await rm(old, { recursive: true, force: true });
  return stamp;
}
