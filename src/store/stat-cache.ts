// Remembers the digest of each file hashed before, keyed by absolute path and guarded by its stat,
// so that an unchanged multi-GB input is never read twice (DVC's "state" database, git's index).
import type { FileStat } from './hash-file.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isErrno, writeFileAtomic } from './fs-util.js';

/** What is persisted per file. Timestamps are nanosecond bigints as strings (JSON has no bigint). */
export interface StatCacheEntry {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: number;
  digest: string;
  /** Wall clock (ns) just before the file was read; decides whether the entry is "racy". */
  hashedAtNs: string;
}

export interface StatCacheOptions {
  /**
   * An entry whose mtime or ctime is within this many ms of the moment it was hashed is not trusted
   * (git's "racy git"): a write right after hashing, inside the filesystem's timestamp granularity
   * or clock skew to a file server, would leave size and times unchanged. Default 2000.
   */
  racyMs?: number;
  /** Where non-fatal problems (an unreadable cache file) are reported. Default: process warning. */
  warn?: (message: string) => void;
}

const FORMAT = 1;

export class StatCache {
  readonly racyNs: bigint;
  private entries = new Map<string, StatCacheEntry>();
  /** Keys changed or removed since load/save: what a save merges over the file on disk. */
  private dirty = new Set<string>();
  private removed = new Set<string>();
  /** Directories walked in full, with the files seen: entries under them not seen are gone. */
  private walked: Array<{ root: string; seen: ReadonlySet<string> }> = [];
  private readonly warn: (message: string) => void;

  private constructor(readonly file: string | undefined, opts: StatCacheOptions) {
    this.racyNs = BigInt(Math.round((opts.racyMs ?? 2000) * 1e6));
    this.warn = opts.warn ?? ((m) => process.emitWarning(m, 'FacepipeWarning'));
  }

  /** A cache that is never persisted (tests, `--rehash` style one-off digests). */
  static memory(opts: StatCacheOptions = {}): StatCache {
    return new StatCache(undefined, opts);
  }

  /** Loads `file`; a missing file is an empty cache, an unreadable one a warning and empty. */
  static async load(file: string, opts: StatCacheOptions = {}): Promise<StatCache> {
    const cache = new StatCache(file, opts);
    cache.entries = (await cache.readFile()) ?? new Map();
    return cache;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached digest of `absPath` if `st` still matches and the entry is not racy. */
  lookup(absPath: string, st: FileStat): string | undefined {
    const e = this.entries.get(absPath);
    if (!e || !sameStat(e, st)) return undefined;
    const changedNs = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
    if (changedNs + this.racyNs > BigInt(e.hashedAtNs)) return undefined;
    return e.digest;
  }

  /** `st` must be the stat taken before reading, `hashedAtNs` the wall clock at that moment. */
  record(absPath: string, st: FileStat, digest: string, hashedAtNs: bigint): void {
    this.entries.set(absPath, {
      size: Number(st.size),
      mtimeNs: st.mtimeNs.toString(),
      ctimeNs: st.ctimeNs.toString(),
      ino: Number(st.ino),
      digest,
      hashedAtNs: hashedAtNs.toString(),
    });
    this.dirty.add(absPath);
    this.removed.delete(absPath);
  }

  forget(absPath: string): void {
    if (this.entries.delete(absPath)) {
      this.dirty.delete(absPath);
      this.removed.add(absPath);
    }
  }

  /** Records that `root` was walked in full: cached files below it that were not seen are gone. */
  noteWalked(root: string, seen: ReadonlySet<string>): void {
    this.walked.push({ root: root.endsWith(path.sep) ? root : root + path.sep, seen });
  }

  /**
   * Writes the cache (temp file + rename, so a reader never sees half of it). Another runner may
   * have saved since we loaded: its entries are kept unless we changed the same path, so two
   * runners sharing the cache lose little work. Races between savers: last writer wins, which is
   * fine for a cache.
   */
  async save(): Promise<void> {
    if (!this.file) return;
    const pruned = this.prunedKeys();
    if (this.dirty.size === 0 && this.removed.size === 0 && pruned.length === 0) return;
    const merged = (await this.readFile(true)) ?? new Map(this.entries);
    for (const k of this.dirty) merged.set(k, this.entries.get(k) as StatCacheEntry);
    for (const k of [...this.removed, ...pruned]) merged.delete(k);
    const json = JSON.stringify({ format: FORMAT, entries: Object.fromEntries(merged) });
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, json);
    this.entries = merged;
    this.dirty.clear();
    this.removed.clear();
    this.walked = [];
  }

  private prunedKeys(): string[] {
    if (this.walked.length === 0) return [];
    const out: string[] = [];
    for (const k of this.entries.keys()) {
      if (this.walked.some((w) => k.startsWith(w.root) && !w.seen.has(k))) out.push(k);
    }
    return out;
  }

  private async readFile(quiet = false): Promise<Map<string, StatCacheEntry> | undefined> {
    const file = this.file as string;
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
    try {
      return parseEntries(text);
    } catch (e) {
      if (!quiet) {
        this.warn(`stat cache ${file} is unreadable (${(e as Error).message}); starting with an empty cache. ` +
          'Inputs will be hashed again once and the file rewritten; deleting it is also safe.');
      }
      return undefined;
    }
  }
}

function sameStat(e: StatCacheEntry, st: FileStat): boolean {
  return e.size === Number(st.size) && e.ino === Number(st.ino) &&
    e.mtimeNs === st.mtimeNs.toString() && e.ctimeNs === st.ctimeNs.toString();
}

function parseEntries(text: string): Map<string, StatCacheEntry> {
  const doc: unknown = JSON.parse(text);
  if (!isObject(doc) || doc.format !== FORMAT || !isObject(doc.entries)) {
    throw new Error(`expected {"format": ${FORMAT}, "entries": {...}}`);
  }
  const map = new Map<string, StatCacheEntry>();
  for (const [k, v] of Object.entries(doc.entries)) {
    // A malformed entry only costs one re-hash: skip it rather than distrust the whole file.
    if (isEntry(v)) map.set(k, v);
  }
  return map;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const NS_RE = /^-?\d+$/;

function isEntry(v: unknown): v is StatCacheEntry {
  return isObject(v) && typeof v.size === 'number' && typeof v.ino === 'number' && typeof v.digest === 'string' &&
    [v.mtimeNs, v.ctimeNs, v.hashedAtNs].every((s) => typeof s === 'string' && NS_RE.test(s));
}
