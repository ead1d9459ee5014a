// The lock file itself: how it is created atomically, read, and judged stale. The waiting,
// heartbeat and takeover logic lives in lock.ts.
import { readFileSync, readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isErrno, uniqueSuffix } from './fs-util.js';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  /** Last sign of life: max of the file's `heartbeatAt` field and its mtime (see lock.ts). */
  heartbeatAt: string;
  key: string;
  stage: string;
  runId: string;
}

/** On disk: the info plus what tells two holders (or two boots of one host) apart. */
export interface LockFile extends LockInfo {
  /** Random per acquisition: "is this lock still ours?" compares tokens, never pids. */
  token: string;
  /** Boot id + pid namespace: a pid is only meaningful on the same boot of the same kernel. */
  hostId: string;
}

export type RawLock =
  | { kind: 'missing' }
  | { kind: 'ok'; file: LockFile; mtimeMs: number; ino: number }
  | { kind: 'unparsable'; error: string; mtimeMs: number; ino: number };

export function lockPath(locksDir: string, key: string): string {
  return path.join(locksDir, `${key}.lock`);
}

let cachedHostId: string | undefined;

/** Containers share hostnames and reuse pids: the pid check needs the same boot and pid namespace. */
export function hostId(): string {
  if (cachedHostId === undefined) {
    let boot = '';
    let ns = '';
    try { boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { /* not Linux */ }
    try { ns = readlinkSync('/proc/self/ns/pid'); } catch { /* not Linux */ }
    cachedHostId = `${os.hostname()}/${boot}/${ns}`;
  }
  return cachedHostId;
}

/**
 * Creates `file` with `content` only if it does not exist, and atomically: the content is written
 * to a temp file which is then hard-linked to the final name (link(2) fails with EEXIST like
 * O_EXCL, and works over NFS). A reader therefore never sees a half-written lock. Filesystems
 * without hard links fall back to O_EXCL + write, whose brief empty window readers tolerate.
 */
export async function createExclusive(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${uniqueSuffix()}.tmp`;
  await fs.writeFile(tmp, content, { flag: 'wx' });
  try {
    await fs.link(tmp, file);
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    if (!isErrno(e, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS')) throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
  try {
    await fs.writeFile(file, content, { flag: 'wx' });
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    throw e;
  }
}

/** Reads content and mtime through one open file (on NFS, open revalidates cached attributes). */
export async function readRaw(file: string): Promise<RawLock> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return { kind: 'missing' };
    throw e;
  }
  try {
    const st = await fh.stat();
    const text = await fh.readFile('utf8');
    const parsed = parseLockFile(text);
    return typeof parsed === 'string'
      ? { kind: 'unparsable', error: parsed, mtimeMs: st.mtimeMs, ino: st.ino }
      : { kind: 'ok', file: parsed, mtimeMs: st.mtimeMs, ino: st.ino };
  } finally {
    await fh.close();
  }
}

function parseLockFile(text: string): LockFile | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return text.length === 0 ? 'empty file' : (e as Error).message;
  }
  const o = v as Partial<Record<keyof LockFile, unknown>>;
  const strings = ['host', 'startedAt', 'heartbeatAt', 'key', 'stage', 'runId', 'token', 'hostId'] as const;
  if (typeof v !== 'object' || v === null || !Number.isInteger(o.pid) || (o.pid as number) <= 0 ||
    strings.some((k) => typeof o[k] !== 'string')) {
    return 'not a facepipe lock file';
  }
  return v as LockFile;
}

/** Identity of one acquisition, used to name takeover markers and to re-check under them. */
export function generation(raw: Exclude<RawLock, { kind: 'missing' }>): string {
  return raw.kind === 'ok' ? raw.file.token : `ino${raw.ino}`;
}

export function lastSignOfLife(raw: Exclude<RawLock, { kind: 'missing' }>): number {
  if (raw.kind === 'unparsable') return raw.mtimeMs;
  return Math.max(Date.parse(raw.file.heartbeatAt) || 0, raw.mtimeMs);
}

/** Public view of a lock file; an unparsable one is described by what can still be known. */
export function infoOf(raw: Exclude<RawLock, { kind: 'missing' }>, key: string): LockInfo {
  const heartbeatAt = new Date(lastSignOfLife(raw)).toISOString();
  if (raw.kind === 'unparsable') {
    return { pid: 0, host: '?', startedAt: heartbeatAt, heartbeatAt, key, stage: '?', runId: `? (unreadable lock: ${raw.error})` };
  }
  const { pid, host, startedAt, stage, runId } = raw.file;
  return { pid, host, startedAt, heartbeatAt, key: raw.file.key, stage, runId };
}

/** Why the lock is stale, or false while its holder may still be working. */
export function judgeStale(raw: Exclude<RawLock, { kind: 'missing' }>, staleMs: number, now = Date.now()): false | string {
  const ageMs = now - lastSignOfLife(raw);
  if (raw.kind === 'unparsable') {
    return ageMs > staleMs ? `unreadable lock file (${raw.error}; a crash while writing it?), untouched for ${secs(ageMs)}` : false;
  }
  const f = raw.file;
  if (f.hostId === hostId() && !pidAlive(f.pid)) return `its holder, pid ${f.pid} on ${f.host}, is no longer running`;
  if (ageMs > staleMs) {
    return `no heartbeat from its holder, pid ${f.pid} on ${f.host}, for ${secs(ageMs)} (limit ${secs(staleMs)})`;
  }
  return false;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return !isErrno(e, 'ESRCH');
  }
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
