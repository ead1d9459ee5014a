// The content-addressed store of finished stage results: `store/<K[0..2]>/<K>/` holding
// `manifest.json`, `out/` and `stage.log`. An entry exists only if it is complete (commit.ts);
// a damaged one is moved to the trash on lookup and reported, which the runner treats as a miss.
//
// Callers hold the key's lock (lock.ts) around begin/commit/abandon/workDir/removeWork; lookup is
// safe without it.
import fs from 'node:fs/promises';
import path from 'node:path';
import { commitAttempt, type Attempt, type CommitStep } from './commit.js';
import type { Digester } from './digest.js';
import { isErrno, uniqueSuffix } from './fs-util.js';
import { checkKey, type Layout } from './layout.js';
import type { Manifest, ManifestMeta } from './manifest.js';
import { verifyEntry } from './verify.js';

export type { Attempt, CommitStep } from './commit.js';
export type { Manifest, ManifestMeta } from './manifest.js';

export type LookupResult =
  | { status: 'hit'; manifest: Manifest; outDir: string }
  | { status: 'miss' }
  | { status: 'corrupt'; reason: string };

export interface StoreOptions {
  /** Called after each step of a commit (progress; crash tests kill the process here). */
  onCommitStep?(step: CommitStep, attempt: Attempt): void | Promise<void>;
}

export class Store {
  constructor(readonly layout: Layout, readonly digester: Digester, private readonly opts: StoreOptions = {}) {}

  entryDir(key: string): string {
    checkKey(key);
    return path.join(this.layout.store, key.slice(0, 2), key);
  }

  outDir(key: string): string {
    return path.join(this.entryDir(key), 'out');
  }

  async lookup(key: string): Promise<LookupResult> {
    const dir = this.entryDir(key);
    const v = await verifyEntry(dir, key, this.digester);
    switch (v.status) {
      case 'missing':
        return { status: 'miss' };
      case 'ok':
        return { status: 'hit', manifest: v.manifest, outDir: path.join(dir, 'out') };
      case 'corrupt':
        await this.trashIfSame(dir, v.ino);
        return { status: 'corrupt', reason: v.reason };
    }
  }

  /** A fresh attempt directory; leftovers of earlier attempts at this key are removed first. */
  async begin(key: string): Promise<Attempt> {
    checkKey(key);
    await fs.mkdir(this.layout.tmp, { recursive: true });
    for (const name of await fs.readdir(this.layout.tmp)) {
      if (name.startsWith(`${key}.`)) await fs.rm(path.join(this.layout.tmp, name), { recursive: true, force: true });
    }
    const dir = path.join(this.layout.tmp, `${key}.${uniqueSuffix()}`);
    const outDir = path.join(dir, 'out');
    await fs.mkdir(outDir, { recursive: true });
    return { key, dir, outDir, logPath: path.join(dir, 'stage.log') };
  }

  /** Hashes out/, writes the manifest and moves the attempt into the store; see commit.ts. */
  async commit(a: Attempt, meta: ManifestMeta): Promise<Manifest> {
    const hook = this.opts.onCommitStep;
    return commitAttempt(a, meta, {
      digester: this.digester,
      entryDir: this.entryDir(a.key),
      trash: async (dir) => { await this.moveToTrash(dir); },
      ...(hook ? { onStep: (s: CommitStep) => hook(s, a) } : {}),
    });
  }

  async abandon(a: Attempt): Promise<void> {
    await fs.rm(a.dir, { recursive: true, force: true });
  }

  /** `work/<K>/`: survives failed attempts so a stage can resume from its checkpoints. */
  async workDir(key: string): Promise<string> {
    const dir = path.join(this.layout.work, checkKey(key));
    await fs.mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Removed via the trash: a crash halfway through deleting must not leave a half-deleted work
   * directory that the next attempt would take for valid checkpoints.
   */
  async removeWork(key: string): Promise<void> {
    const moved = await this.moveToTrash(path.join(this.layout.work, checkKey(key)));
    if (moved) await fs.rm(moved, { recursive: true, force: true });
  }

  /** Deletes everything in the trash (safe at any time: nothing there is in use). */
  /**
   * Deletes trashed entries — all of them, or those trashed more than `olderThanMs` ago (a
   * replaced entry may still be read by a concurrent runner for a while, and a corrupt one is
   * worth a look before it goes).
   */
  async emptyTrash(olderThanMs = 0): Promise<number> {
    let names: string[];
    try {
      names = await fs.readdir(this.layout.trash);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return 0;
      throw e;
    }
    const cutoff = Date.now() - olderThanMs;
    // Names are <key>.<trashed-at ms>.<suffix> (see moveToTrash).
    const old = names.filter((n) => olderThanMs <= 0 || Number(n.split('.')[1]) < cutoff);
    await Promise.all(old.map((n) => fs.rm(path.join(this.layout.trash, n), { recursive: true, force: true })));
    return old.length;
  }

  /** Renames `dir` into the trash (instant, atomic); returns its new path, or undefined if absent. */
  private async moveToTrash(dir: string): Promise<string | undefined> {
    await fs.mkdir(this.layout.trash, { recursive: true });
    const dest = path.join(this.layout.trash, `${path.basename(dir)}.${Date.now()}.${uniqueSuffix()}`);
    try {
      await fs.rename(dir, dest);
      return dest;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  /**
   * Trashes the entry judged corrupt, not one committed meanwhile under the same name (a lookup
   * without the lock can take seconds re-hashing while another runner replaces the entry).
   */
  private async trashIfSame(dir: string, ino: number): Promise<void> {
    const now = await fs.stat(dir).catch(() => undefined);
    if (!now || now.ino !== ino) return;
    const moved = await this.moveToTrash(dir);
    if (!moved || (await fs.stat(moved)).ino === ino) return;
    // Lost the race by microseconds: put the good entry back (a no-op failure if yet another
    // commit already took its place, which is just as good).
    await fs.rename(moved, dir).catch(() => undefined);
  }
}
