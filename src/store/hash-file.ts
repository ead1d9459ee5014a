// Hashing one file, checking it did not change while it was read (fstat before and after; a file
// being written is retried, then reported). Two versions: async on the main thread, which overlaps
// the next read with hashing (best for one large file), and sync for the hash workers, where
// five async round trips per small file would cost far more than the hashing itself.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';

/** The parts of a bigint stat the caches compare; a BigIntStats is one. */
export interface FileStat {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

export interface Hashed {
  digest: string;
  /** fstat taken before reading: what the digest is valid for. */
  stat: FileStat;
  /** Wall clock (ns) when reading started; the stat cache judges raciness by it. */
  hashedAtNs: bigint;
  /** Bytes read, retries included. */
  bytes: number;
}

/** Large reads keep syscall overhead negligible (measured: 4 MiB beats 1 and 8 MiB). */
export const CHUNK = 4 << 20;
const ATTEMPTS = 3;

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
const pick = (s: FileStat): FileStat => ({ size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino });
const same = (a: FileStat, b: FileStat): boolean => a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

function changingError(shown: string): Error {
  return new Error(`${shown} kept changing while it was being hashed (${ATTEMPTS} attempts); ` +
    'wait for whatever is writing it to finish, then run again');
}

/** `real` is the path read, `shown` the one named in errors. */
export async function hashFile(real: string, shown = real): Promise<Hashed> {
  let bytes = 0;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const fh = await fsp.open(real, 'r');
    try {
      const before = await fh.stat({ bigint: true });
      const hashedAtNs = nowNs();
      const h = await hashOpen(fh, Number(before.size));
      bytes += h.bytes;
      if (same(before, await fh.stat({ bigint: true }))) return { digest: h.digest, stat: pick(before), hashedAtNs, bytes };
    } finally {
      await fh.close();
    }
  }
  throw changingError(shown);
}

async function hashOpen(fh: fsp.FileHandle, size: number): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  const len = Math.max(1, Math.min(CHUNK, size));
  const bufs = [Buffer.allocUnsafe(len), Buffer.allocUnsafe(len)] as const;
  let pos = 0;
  let which = 0;
  // Read exactly `size` bytes: a file that grew or shrank meanwhile is caught by the fstat after.
  let pending = size > 0 ? fh.read(bufs[0], 0, len, 0) : undefined;
  while (pending) {
    const { bytesRead, buffer } = await pending;
    pos += bytesRead;
    which ^= 1;
    pending = bytesRead > 0 && pos < size ? fh.read(bufs[which], 0, Math.min(len, size - pos), pos) : undefined;
    hash.update(buffer.subarray(0, bytesRead));
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes: pos };
}

/** The same, blocking; `buf` is reused across calls by its owner (one per worker). */
export function hashFileSync(real: string, buf: Buffer, shown = real): Hashed {
  let bytes = 0;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const fd = fs.openSync(real, 'r');
    try {
      const before = fs.fstatSync(fd, { bigint: true });
      const hashedAtNs = nowNs();
      const size = Number(before.size);
      const hash = createHash('sha256');
      let pos = 0;
      for (let n = 1; n > 0 && pos < size; pos += n) {
        n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
        hash.update(buf.subarray(0, n));
      }
      bytes += pos;
      if (same(before, fs.fstatSync(fd, { bigint: true }))) {
        return { digest: `sha256:${hash.digest('hex')}`, stat: pick(before), hashedAtNs, bytes };
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  throw changingError(shown);
}
