// Turning a finished attempt into a store entry so that a crash (kill -9, power loss) at any
// instant leaves either no entry or a complete one:
//
// 1. wait until the filesystem clock has moved past every output's ctime, then hash out/;
// 2. fsync every output file and directory;
// 3. write manifest.json inside the attempt (temp + fsync + rename): the attempt is now complete;
// 4. rename the attempt directory to the entry's name (atomic) and fsync the parent directories.
//
// Until step 4 nothing exists under the entry's name; after it, everything does.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Digester, FileEntry } from './digest.js';
import { fsyncDir, isErrno, mapLimit, sleep, uniqueSuffix, writeFileAtomic } from './fs-util.js';
import { buildManifest, type Manifest, type ManifestMeta } from './manifest.js';
import { walkTree } from './walk.js';

export interface Attempt {
  key: string;
  dir: string;
  outDir: string;
  logPath: string;
}

/** Points of a commit, for progress and for crash tests that kill the process at each. */
export type CommitStep = 'hashed' | 'synced' | 'manifest-written' | 'renamed';

export interface CommitDeps {
  digester: Digester;
  entryDir: string;
  /** Moves an existing (corrupt or superseded) entry out of the way. */
  trash(dir: string): Promise<void>;
  onStep?(step: CommitStep): void | Promise<void>;
}

/** How long to wait at most for the filesystem clock to pass the outputs' ctimes (see quietFiles). */
const MAX_CLOCK_WAIT_MS = 5000;

export async function commitAttempt(a: Attempt, meta: ManifestMeta, d: CommitDeps): Promise<Manifest> {
  if (meta.key !== a.key) throw new Error(`commit: manifest key ${meta.key} does not match the attempt's key ${a.key}`);
  try {
    await fs.access(a.outDir);
  } catch {
    throw new Error(`commit: ${a.outDir} does not exist; was the attempt already committed or abandoned?`);
  }
  const files = await quietFiles(a, d.digester);
  await d.onStep?.('hashed');
  await syncTree(a.outDir, files);
  await d.onStep?.('synced');
  const manifest = buildManifest(meta, files);
  await writeFileAtomic(path.join(a.dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n', { durable: true });
  await d.onStep?.('manifest-written');
  await moveIntoPlace(a.dir, d);
  await d.onStep?.('renamed');
  return manifest;
}

/**
 * Hashes out/ once no write to it can go unnoticed later. Lookups trust a file whose size, mtime,
 * ctime and inode are unchanged; that is only sound if a write after hashing is bound to change
 * ctime, i.e. if the file's ctime is older than the filesystem's clock when hashing starts (else a
 * write in the same timestamp tick keeps it: git's "racy" problem). The filesystem's own clock is
 * read from the ctime of a fresh probe file, so clock skew to a file server does not matter and
 * the wait is one timestamp tick (milliseconds locally, up to 2 s on coarse filesystems). Files a
 * stray process adds after the walk are not caught here but by the next lookup (not in manifest).
 */
async function quietFiles(a: Attempt, digester: Digester): Promise<FileEntry[]> {
  for (let round = 0; round < 2; round++) {
    const walked = await walkTree(a.outDir, { allowAbsoluteLinks: false });
    const before = new Map(walked.files.map((f) => [f.rel, f.stat.ctimeNs.toString()]));
    const newest = walked.files.reduce((m, f) => (f.stat.ctimeNs > m ? f.stat.ctimeNs : m), 0n);
    await waitForFsClock(a.dir, newest);
    const { files } = await digester.digestWalk(walked, { cache: false });
    if (files.every((f) => before.get(f.path) === f.ctimeNs)) return files;
  }
  throw new Error(`outputs in ${a.outDir} are still being modified after the stage finished. ` +
    'Does the stage leave a background process running? It must wait for everything it starts.');
}

async function waitForFsClock(dir: string, ns: bigint): Promise<void> {
  const deadline = Date.now() + MAX_CLOCK_WAIT_MS;
  for (let delay = 2; ; delay = Math.min(delay * 2, 250)) {
    const probe = path.join(dir, `.clock-probe.${uniqueSuffix()}`);
    await fs.writeFile(probe, '', { flag: 'wx' });
    const now = (await fs.stat(probe, { bigint: true })).ctimeNs;
    await fs.rm(probe, { force: true });
    // Past the deadline the outputs carry change times from the future (the clock was set back):
    // nothing to wait for that would help, so go on without the guarantee rather than hang.
    if (now > ns || Date.now() > deadline) return;
    await sleep(delay);
  }
}

/** fsync files and their directories: after a power loss the rename must not outlive the data. */
async function syncTree(outDir: string, files: FileEntry[]): Promise<void> {
  await mapLimit(files, 16, async (f) => {
    const fh = await fs.open(path.join(outDir, f.path), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
  const dirs = new Set([outDir, ...files.map((f) => path.dirname(path.join(outDir, f.path)))]);
  await mapLimit([...dirs], 16, fsyncDir);
}

async function moveIntoPlace(attemptDir: string, d: CommitDeps): Promise<void> {
  const shard = path.dirname(d.entryDir);
  await fs.mkdir(shard, { recursive: true });
  for (let tries = 0; ; tries++) {
    try {
      await fs.rename(attemptDir, d.entryDir);
      break;
    } catch (e) {
      // An entry is already there: a corrupt one not yet moved, or a forced re-run's predecessor.
      if (!isErrno(e, 'ENOTEMPTY', 'EEXIST') || tries >= 3) throw e;
      await d.trash(d.entryDir);
    }
  }
  await fsyncDir(shard);
  await fsyncDir(path.dirname(attemptDir));
  await fsyncDir(path.dirname(shard));
}
