// One `facepipe setup` per build dir at a time. Two can easily start together (`npm test` runs
// test files in parallel and several of them make sure the backend is set up); without a lock
// both would spend minutes building and then race to rename their result into place.
import { hostname } from 'node:os';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const POLL_MS = 1000;
const MAX_WAIT_MS = 60 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the lock's holder is gone (its pid is dead on this host), so the lock can go. */
async function stale(lockDir: string): Promise<{ stale: boolean; owner?: string }> {
  try {
    const owner = JSON.parse(await readFile(join(lockDir, 'owner.json'), 'utf8')) as { pid: number; host: string };
    if (owner.host !== hostname()) return { stale: false, owner: `pid ${owner.pid} on ${owner.host}` };
    return { stale: !alive(owner.pid), owner: `pid ${owner.pid}` };
  } catch {
    // No owner file yet: either its creator is between mkdir and writeFile (fresh), or it died
    // right there (old). Only the age can tell.
    try {
      return { stale: Date.now() - (await stat(lockDir)).mtimeMs > 60_000 };
    } catch {
      return { stale: false }; // just released
    }
  }
}

/** Runs fn while holding <lockDir> (an atomic mkdir), waiting for another holder to finish. */
export async function withLock<T>(lockDir: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  let told = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const s = await stale(lockDir);
    if (s.stale) {
      log(`removing a stale setup lock ${lockDir}`);
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!told) {
      log(`waiting for another facepipe setup (${s.owner ?? 'starting'}) to finish (lock: ${lockDir})`);
      told = true;
    }
    if (Date.now() - start > MAX_WAIT_MS) {
      throw new Error(`gave up waiting for the setup lock ${lockDir}; delete it if no setup is running`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  try {
    await writeFile(join(lockDir, 'owner.json'), JSON.stringify({ pid: process.pid, host: hostname() }));
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
