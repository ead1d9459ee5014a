// Small filesystem helpers shared by the store, the stat cache and the locks.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** True when `e` is a Node system error with one of the given codes. */
export function isErrno(e: unknown, ...codes: string[]): e is NodeJS.ErrnoException {
  return e instanceof Error && codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

/** A name no other process or call can pick: pid for debugging, random bytes for uniqueness. */
export function uniqueSuffix(): string {
  return `${process.pid}.${randomBytes(6).toString('hex')}`;
}

/** fsync a directory so that entries created or renamed in it survive a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    // Some filesystems (and all of Windows) refuse fsync on directories; durability is then the
    // filesystem's business, not something we can do better.
    if (!isErrno(e, 'EINVAL', 'EPERM', 'EISDIR', 'EBADF')) throw e;
  } finally {
    await fh.close();
  }
}

export interface WriteAtomicOptions {
  /** fsync the file before the rename and the directory after it (durable across power loss). */
  durable?: boolean;
}

/**
 * Write a whole file so that readers see either the old or the new content, never a mix: write a
 * temp file next to it, then rename over it. A crash leaves at most a `*.tmp` file behind.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: WriteAtomicOptions = {}): Promise<void> {
  const tmp = `${file}.${uniqueSuffix()}.tmp`;
  const fh = await fs.open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    if (opts.durable) await fh.sync();
  } catch (e) {
    await fh.close();
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  if (opts.durable) await fsyncDir(path.dirname(file));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects on the first failure. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
