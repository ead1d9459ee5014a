// Decides whether a store entry is finished and untouched, reading file contents only for files
// whose stat no longer matches what the manifest recorded.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Digester, FileEntry } from './digest.js';
import { isErrno, mapLimit } from './fs-util.js';
import { parseManifest, type Manifest } from './manifest.js';
import { walkTree, type WalkedFile } from './walk.js';

export type Verdict =
  | { status: 'missing' }
  | { status: 'ok'; manifest: Manifest }
  /** `ino` identifies the directory judged, so that only that one is moved to the trash. */
  | { status: 'corrupt'; reason: string; ino: number };

export async function verifyEntry(dir: string, key: string, digester: Digester): Promise<Verdict> {
  let ino: number;
  try {
    ino = (await fs.stat(dir)).ino;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return { status: 'missing' };
    throw e;
  }
  const reason = await problem(dir, key, digester);
  return typeof reason === 'string' ? { status: 'corrupt', reason, ino } : { status: 'ok', manifest: reason };
}

/** The manifest if the entry is sound, else what is wrong with it. */
async function problem(dir: string, key: string, digester: Digester): Promise<Manifest | string> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, 'manifest.json'), 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return 'manifest.json is missing (not written by a finished commit)';
    throw e;
  }
  const parsed = parseManifest(text, key);
  if (!parsed.ok) return parsed.reason;
  const outDir = path.join(dir, 'out');
  let walked: WalkedFile[];
  try {
    if (!(await fs.stat(outDir)).isDirectory()) return 'out is not a directory';
    walked = (await walkTree(outDir)).files;
  } catch (e) {
    return isErrno(e, 'ENOENT') ? 'out/ is missing' : `out/ cannot be read: ${(e as Error).message}`;
  }
  const byPath = new Map(walked.map((f) => [f.rel, f]));
  const listed = new Set(parsed.manifest.files.map((f) => f.path));
  const extra = walked.find((f) => !listed.has(f.rel));
  if (extra) return `out/${extra.rel} is not in the manifest (added after the stage finished?)`;
  const toHash: Array<[WalkedFile, FileEntry]> = [];
  for (const f of parsed.manifest.files) {
    const w = byPath.get(f.path);
    if (!w) return `out/${f.path} is missing`;
    if (Number(w.stat.size) !== f.size) return `out/${f.path} has ${w.stat.size} bytes, the manifest says ${f.size}`;
    // Same size, times and inode as when it was hashed at commit (which made sure any later write
    // changes ctime, see commit.ts): untouched, no need to read it.
    const same = w.stat.mtimeNs.toString() === f.mtimeNs && w.stat.ctimeNs.toString() === f.ctimeNs && Number(w.stat.ino) === f.ino;
    if (!same) toHash.push([w, f]);
  }
  // Cheap checks first; then read only the files whose stat changed, stopping at the first mismatch.
  let changed: string | undefined;
  await mapLimit(toHash, 4, async ([w, f]) => {
    if (changed === undefined && (await digester.file(w.abs)) !== f.digest) {
      changed ??= `out/${f.path} was modified after the stage finished (content differs)`;
    }
  });
  return changed ?? parsed.manifest;
}
