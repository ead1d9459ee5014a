// Weights and gradients between the coordinator and its replicas go through files in shared memory
// (/dev/shm), not through the sockets: a pwrite and a pread are one memcpy each, where a socket
// costs two in the kernel plus one per 64 KB chunk in JS — measured here (bench/replicas.ts),
// 1.2–1.9 GB/s through a Unix socket against 7 GB/s writing and 12.5 GB/s reading /dev/shm. It also lets the coordinator write new weights
// once for every replica, and each process read or write its share on its own core (fs reads run
// on libuv's thread pool). Node cannot mmap, so a copy each way remains.
import { closeSync, openSync, read, statfsSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const readAsync = promisify(read);

/** /dev/shm when it has room for `bytes` (Docker gives it 64 MB by default), else the temp dir. */
export function sharedMemoryDir(bytes: number): string {
  try {
    const s = statfsSync('/dev/shm');
    if (s.bavail * s.bsize > bytes * 1.25) return '/dev/shm';
  } catch {
    // not Linux, or no /dev/shm
  }
  return os.tmpdir();
}

export async function makeShmFolder(bytes: number): Promise<string> {
  return mkdtemp(path.join(sharedMemoryDir(bytes), `facepipe-${process.pid}-`));
}

/** Removes the folder; processes that opened its files keep them until they close them. */
export const removeShmFolder = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

export class ShmFile {
  private constructor(readonly file: string, readonly fd: number, readonly bytes: number) {}

  /** Creates (or truncates) a file of `bytes` bytes. */
  static create(file: string, bytes: number): ShmFile {
    const fd = openSync(file, 'w+');
    const f = new ShmFile(file, fd, bytes);
    if (bytes > 0) writeSync(fd, Buffer.alloc(1), 0, 1, bytes - 1);
    return f;
  }

  static open(file: string, bytes: number): ShmFile {
    return new ShmFile(file, openSync(file, 'r+'), bytes);
  }

  /** Writes `view` at byte `position`, synchronously (a memcpy into shared pages). */
  writeAt(view: ArrayBufferView, position: number): void {
    const b = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    for (let done = 0; done < b.length;) done += writeSync(this.fd, b, done, b.length - done, position + done);
  }

  /** The whole file into `into` (of `bytes` bytes), on the thread pool. */
  async readAll(into: Buffer): Promise<Buffer> {
    if (into.length !== this.bytes) throw new Error(`${this.file}: reading ${this.bytes} bytes into a buffer of ${into.length}`);
    // Big reads in parallel: one thread-pool thread per part.
    const part = Math.max(1 << 20, Math.ceil(this.bytes / 4 / 4096) * 4096);
    const parts: Promise<void>[] = [];
    for (let at = 0; at < this.bytes; at += part) parts.push(this.readRange(into, at, Math.min(this.bytes, at + part)));
    await Promise.all(parts);
    return into;
  }

  private async readRange(into: Buffer, from: number, to: number): Promise<void> {
    for (let at = from; at < to;) {
      const { bytesRead } = await readAsync(this.fd, into, at, to - at, at);
      if (bytesRead === 0) throw new Error(`${this.file}: ends at ${at} of ${this.bytes} bytes`);
      at += bytesRead;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
