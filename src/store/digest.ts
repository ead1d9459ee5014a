// Content digests of files and trees, reading each file only when the stat cache cannot vouch for
// it. Digests are `sha256:<hex>`.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isErrno, mapLimit } from './fs-util.js';
import { hashFile, type FileStat, type Hashed } from './hash-file.js';
import { sharedHashPool } from './hash-pool.js';
import type { StatCache } from './stat-cache.js';
import { walkTree, type Walk, type WalkedFile, type WalkOptions } from './walk.js';

/** One file of a tree, with the stat its digest was taken under. */
export interface FileEntry {
  /** Posix path relative to the tree's root. */
  path: string;
  size: number;
  digest: string;
  mtimeNs: string;
  ctimeNs: string;
  ino: number;
}

export interface DigesterOptions {
  /** Ignore cached digests (every file is read again); the cache is refreshed with the results. */
  rehash?: boolean;
}

export interface TreeOptions extends WalkOptions {
  /** Use and update the stat cache (default). Off for files that are about to move. */
  cache?: boolean;
}

/**
 * Files from this size up are hashed on the main thread, where reads overlap hashing (measured
 * ~1.95 GB/s against ~1.7 GB/s on a worker); smaller ones go to the worker pool when there are
 * enough of them to be worth the workers' start-up.
 */
const POOL_MAX_SIZE = 32 << 20;
const POOL_MIN_FILES = 16;
const TREE_HEADER = 'facepipe-tree/1\n';

export class Digester {
  readonly stats = { filesHashed: 0, bytesHashed: 0, cacheHits: 0 };
  private readonly rehash: boolean;

  constructor(readonly cache: StatCache, opts: DigesterOptions = {}) {
    this.rehash = opts.rehash ?? false;
  }

  /** Digest of one regular file (symlinks followed). */
  async file(absPath: string, opts: { cache?: boolean } = {}): Promise<string> {
    const abs = path.resolve(absPath);
    let real: string;
    try {
      real = await fs.realpath(abs);
    } catch (e) {
      if (!isErrno(e, 'ENOENT', 'ENOTDIR')) throw e;
      this.cache.forget(abs);
      throw new Error(`input file not found: ${abs}`);
    }
    const st = await fs.stat(real, { bigint: true });
    if (st.isDirectory()) throw new Error(`expected a file but ${abs} is a directory`);
    const f: WalkedFile = { rel: path.basename(abs), abs, real, stat: st };
    const useCache = opts.cache ?? true;
    return this.cached(f, useCache)?.digest ?? this.hashed(f, await hashFile(real, abs), useCache).digest;
  }

  /**
   * Digest of a file or a directory. A directory's digest covers the sorted list of its files'
   * relative paths, sizes and digests (see `treeDigest`); a file's is the file's own digest, so a
   * single-file input keeps its digest whichever way it is asked for. Symlinks: see walk.ts.
   */
  async tree(absPath: string, opts: TreeOptions = {}): Promise<{ digest: string; files: FileEntry[] }> {
    return this.digestWalk(await walkTree(absPath, opts), opts);
  }

  /** `tree` for a walk already done (the store's commit walks first to decide when to hash). */
  async digestWalk(walk: Walk, opts: { cache?: boolean } = {}): Promise<{ digest: string; files: FileEntry[] }> {
    const useCache = opts.cache ?? true;
    const files: FileEntry[] = [];
    const misses: WalkedFile[] = [];
    for (const f of walk.files) {
      const hit = this.cached(f, useCache);
      if (hit) files.push(hit);
      else misses.push(f);
    }
    const small = misses.filter((f) => f.stat.size < POOL_MAX_SIZE);
    const big = misses.filter((f) => f.stat.size >= POOL_MAX_SIZE);
    const [fromPool, fromMain] = await Promise.all([
      small.length >= POOL_MIN_FILES
        ? sharedHashPool().hashMany(small.map((f) => ({ real: f.real, shown: f.abs, size: Number(f.stat.size) }))).catch(vanished)
        : mapLimit(small, 8, (f) => hashFile(f.real, f.abs)),
      mapLimit(big, 2, (f) => hashFile(f.real, f.abs)),
    ]);
    [...small, ...big].forEach((f, i) => files.push(this.hashed(f, (i < small.length ? fromPool[i] : fromMain[i - small.length]) as Hashed, useCache)));
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    if (!walk.isDirectory) return { digest: (files[0] as FileEntry).digest, files };
    if (useCache) this.cache.noteWalked(walk.realRoot, new Set(walk.files.map((f) => f.real)));
    return { digest: treeDigest(files), files };
  }

  private cached(f: WalkedFile, useCache: boolean): FileEntry | undefined {
    const digest = useCache && !this.rehash ? this.cache.lookup(f.real, f.stat) : undefined;
    if (digest === undefined) return undefined;
    this.stats.cacheHits++;
    return entry(f.rel, f.stat, digest);
  }

  private hashed(f: WalkedFile, h: Hashed, useCache: boolean): FileEntry {
    this.stats.filesHashed++;
    this.stats.bytesHashed += h.bytes;
    if (useCache) this.cache.record(f.real, h.stat, h.digest, h.hashedAtNs);
    return entry(f.rel, h.stat, h.digest);
  }
}

/** A file listed by the walk but gone when hashed: say so in words, not as a bare ENOENT. */
function vanished(e: unknown): never {
  if (isErrno(e, 'ENOENT')) throw new Error(`${(e as Error).message}: the file disappeared while its directory was being hashed`);
  throw e;
}

/**
 * The digest of a directory: sha256 over a header line and one line per file, sorted by path
 * (UTF-16 code unit order, i.e. plain `<`), each line `JSON.stringify([path, size, digest])`.
 * JSON quoting makes any file name (newlines included) unambiguous; the header keeps a tree's
 * digest from ever equalling a file's. Modes and timestamps are deliberately not part of it:
 * they change on copy/checkout without changing what a stage reads.
 */
export function treeDigest(files: ReadonlyArray<Pick<FileEntry, 'path' | 'size' | 'digest'>>): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const h = createHash('sha256').update(TREE_HEADER);
  for (const f of sorted) h.update(JSON.stringify([f.path, f.size, f.digest]) + '\n');
  return `sha256:${h.digest('hex')}`;
}

function entry(rel: string, st: FileStat, digest: string): FileEntry {
  return { path: rel, size: Number(st.size), digest, mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: Number(st.ino) };
}
