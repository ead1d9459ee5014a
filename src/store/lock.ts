// One lock per stage key, so that two runners never compute the same result at once; the second
// waits, then finds the result in the store.
//
// Heartbeat: the holder bumps the lock file's mtime with utimes(2) every `heartbeatMs`. The file's
// content is never rewritten, so a reader can never see half of it, and a holder that was wrongly
// judged stale (the machine slept) cannot clobber its successor's file as a rename would: its
// utimes only refreshes a live lock. `heartbeatAt` in the file is the creation time; readers take
// max(heartbeatAt, mtime). Across hosts, staleness by heartbeat assumes clocks agree to well
// within `staleMs`.
//
// Takeover of a stale lock is serialized per stale *generation*: a taker must first create the
// marker `<K>.lock.takeover.<token>.<n>` exclusively, then re-read the lock, check it is still that
// generation and still stale, and replace it with its own in one rename. A marker older than a
// few seconds belongs to a taker that died; the next one uses n+1, so no one ever deletes a marker
// another process may have just created (the race that makes "break a stale mkdir mutex" unsafe).
import { readFileSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isErrno, sleep, uniqueSuffix } from './fs-util.js';
import { checkKey } from './layout.js';
import {
  createExclusive, generation, hostId, infoOf, judgeStale, lockPath, readRaw,
  type LockFile, type LockInfo, type RawLock,
} from './lock-file.js';

export type { LockInfo } from './lock-file.js';

export interface LockOptions {
  /** A lock without heartbeat for this long is stale. Default 30000. */
  staleMs?: number;
  /** How often the holder proves it is alive. Default 2000 (or staleMs / 4 if that is less). */
  heartbeatMs?: number;
  /** How often a waiter looks at the lock again. Default 200 (plus jitter). */
  pollMs?: number;
  /** Called once per holder we start waiting for. */
  onWait?(holder: LockInfo): void;
  onTakeover?(stale: LockInfo, reason: string): void;
  signal?: AbortSignal;
}

export interface Lock {
  readonly info: LockInfo;
  /**
   * Aborted if the lock turns out to be no longer ours (another process judged it stale, e.g. after
   * this one was suspended): whatever it protects should stop.
   */
  readonly lost: AbortSignal;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

/** What the caller says about itself; the rest of LockInfo is filled in here. */
type LockRequest = Omit<LockInfo, 'pid' | 'host' | 'startedAt' | 'heartbeatAt'>;
type Resolved = Required<Pick<LockOptions, 'staleMs' | 'heartbeatMs' | 'pollMs'>> & LockOptions;
type Present = Exclude<RawLock, { kind: 'missing' }>;

/** A takeover marker older than this belongs to a taker that died in its few-ms critical section. */
const MARKER_STALE_MS = 5000;
/** Leftover temp files and markers older than this are swept when a lock is acquired. */
const LEFTOVER_MS = 60_000;

export async function acquireLock(locksDir: string, info: LockRequest, opts: LockOptions = {}): Promise<Lock> {
  const o = resolve(opts);
  const file = lockPath(locksDir, checkKey(info.key));
  await fs.mkdir(locksDir, { recursive: true });
  let notified: string | undefined;
  for (;;) {
    o.signal?.throwIfAborted();
    const mine = newLockFile(info);
    if (await createExclusive(file, JSON.stringify(mine))) return held(file, mine, o);
    const cur = await readRaw(file);
    if (cur.kind === 'missing') continue;
    const reason = judgeStale(cur, o.staleMs);
    if (reason) {
      const took = await takeover(file, cur, info, o);
      if (took) return held(file, took, o);
    } else if (notified !== generation(cur)) {
      notified = generation(cur);
      o.onWait?.(infoOf(cur, info.key));
    }
    await sleep(o.pollMs * (1 + Math.random() / 2), o.signal);
  }
}

export async function readLock(locksDir: string, key: string, opts: { staleMs?: number } = {}):
Promise<{ info: LockInfo; stale: false | string } | undefined> {
  const raw = await readRaw(lockPath(locksDir, checkKey(key)));
  if (raw.kind === 'missing') return undefined;
  return { info: infoOf(raw, key), stale: judgeStale(raw, opts.staleMs ?? 30_000) };
}

function resolve(opts: LockOptions): Resolved {
  const staleMs = opts.staleMs ?? 30_000;
  const o = { pollMs: 200, ...opts, staleMs, heartbeatMs: opts.heartbeatMs ?? Math.min(2000, staleMs / 4) };
  if (o.heartbeatMs * 2 > o.staleMs) {
    throw new Error(`lock options: staleMs (${o.staleMs}) must be at least twice heartbeatMs (${o.heartbeatMs}), ` +
      'or a live holder would look stale between two heartbeats');
  }
  return o;
}

function newLockFile(info: LockRequest): LockFile {
  const now = new Date().toISOString();
  return {
    key: info.key, stage: info.stage, runId: info.runId,
    pid: process.pid, host: os.hostname(), startedAt: now, heartbeatAt: now,
    token: randomBytes(12).toString('hex'), hostId: hostId(),
  };
}

/** Replaces the stale lock `seen`, or returns undefined if someone else is doing it or did it. */
async function takeover(file: string, seen: Present, info: LockRequest, o: Resolved): Promise<LockFile | undefined> {
  const gen = generation(seen);
  let marker: string;
  for (let n = 0; ; n++) {
    marker = `${file}.takeover.${gen}.${n}`;
    if (await createExclusive(marker, JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now() }))) break;
    // Abandoned markers are left for sweepLeftovers: deleting one could delete a marker another
    // taker has just created under the same name.
    if (!(await markerAbandoned(marker))) return undefined;
  }
  try {
    const cur = await readRaw(file);
    if (cur.kind === 'missing' || generation(cur) !== gen) return undefined;
    const reason = judgeStale(cur, o.staleMs);
    if (!reason) return undefined;
    // Replaced in one rename, never removed then re-created: in that gap a newcomer's exclusive
    // create would win, and the stale lock would vanish without a takeover being reported.
    const mine = newLockFile(info);
    const tmp = `${file}.${uniqueSuffix()}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(mine), { flag: 'wx' });
    await fs.rename(tmp, file);
    o.onTakeover?.(infoOf(cur, info.key), reason);
    return mine;
  } finally {
    await fs.rm(marker, { force: true });
  }
}

async function markerAbandoned(marker: string): Promise<boolean> {
  try {
    const fh = await fs.open(marker, 'r');
    try {
      const st = await fh.stat();
      let at = st.mtimeMs;
      try { at = (JSON.parse(await fh.readFile('utf8')) as { at: number }).at; } catch { /* use mtime */ }
      return Date.now() - at > MARKER_STALE_MS;
    } finally {
      await fh.close();
    }
  } catch (e) {
    // Its taker just finished and removed it: treat as abandoned so we move on to the next number,
    // where the re-check under the marker sorts out whether there is anything left to take over.
    if (isErrno(e, 'ENOENT')) return true;
    throw e;
  }
}

const heldLocks = new Map<string, string>();
let exitHookInstalled = false;

/** A process that exits without releasing (an uncaught error) should not leave its locks behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [file, token] of heldLocks) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as LockFile).token === token) unlinkSync(file);
      } catch { /* gone or not ours: nothing to clean */ }
    }
  });
}

function held(file: string, mine: LockFile, o: Resolved): Lock {
  installExitHook();
  heldLocks.set(file, mine.token);
  void sweepLeftovers(file);
  const lost = new AbortController();
  let info: LockInfo = infoOf({ kind: 'ok', file: mine, mtimeMs: 0, ino: 0 }, mine.key);
  let timer: NodeJS.Timeout | undefined;
  let released = false;
  const beat = async (): Promise<void> => {
    const reason = await heartbeat(file, mine.token);
    if (released) return;
    if (reason) {
      heldLocks.delete(file);
      lost.abort(new Error(`lost the lock of stage '${mine.stage}' (${mine.key}): ${reason}`));
      return;
    }
    info = { ...info, heartbeatAt: new Date().toISOString() };
    schedule();
  };
  const schedule = (): void => {
    // unref: a heartbeat alone must not keep the process alive once its real work is done.
    timer = setTimeout(() => void beat(), o.heartbeatMs).unref();
  };
  schedule();
  return {
    get info() { return info; },
    lost: lost.signal,
    async release() {
      if (released) return;
      released = true;
      clearTimeout(timer);
      if (heldLocks.get(file) !== mine.token) return;
      heldLocks.delete(file);
      const cur = await readRaw(file);
      if (cur.kind === 'ok' && cur.file.token === mine.token) await fs.rm(file, { force: true });
    },
  };
}

/** Refreshes the mtime if the lock is still ours; returns why not otherwise. */
async function heartbeat(file: string, token: string): Promise<string | undefined> {
  try {
    const cur = await readRaw(file);
    if (cur.kind === 'missing') return 'the lock file was removed by another process';
    if (cur.kind === 'ok' && cur.file.token !== token) {
      return `it was taken over by pid ${cur.file.pid} on ${cur.file.host} (run ${cur.file.runId})`;
    }
    const now = new Date();
    await fs.utimes(file, now, now);
    return undefined;
  } catch {
    // A transient I/O error: try again next beat; if it persists the lock goes stale, as it should.
    return undefined;
  }
}

async function sweepLeftovers(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  try {
    for (const name of await fs.readdir(dir)) {
      if (!name.startsWith(prefix)) continue;
      const p = path.join(dir, name);
      const st = await fs.stat(p).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LEFTOVER_MS) await fs.rm(p, { force: true });
    }
  } catch {
    // Best effort: leftovers are harmless, only untidy.
  }
}
