// The source's sha256 for dataset.json, computed on the main thread while the workers convert.
// Read into two reused buffers (the next read overlapping the hashing of the last) rather than a
// stream: a stream allocates a fresh chunk per read, and on a 1 GB .rec those freshly mapped pages
// (~70k page faults) and their garbage cost CPU that the workers need on a small machine.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK = 1 << 20;

export async function sha256File(file: string): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const hash = createHash('sha256');
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let pos = 0;
    let i = 0;
    let pending = fh.read(bufs[0]!, 0, CHUNK, 0);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return hash.digest('hex');
      const full = bufs[i]!;
      pos += bytesRead;
      i ^= 1;
      pending = fh.read(bufs[i]!, 0, CHUNK, pos);
      hash.update(full.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}
