// Checksums of downloaded files, streamed (multi-GB archives), with progress.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function fileDigests(file: string, algorithms: readonly string[], onBytes?: (n: number) => void): Promise<Record<string, string>> {
  const hashes = algorithms.map((a) => [a, createHash(a)] as const);
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
    for (const [, h] of hashes) h.update(chunk as Buffer);
    n += (chunk as Buffer).length;
    onBytes?.(n);
  }
  return Object.fromEntries(hashes.map(([a, h]) => [a, h.digest('hex')]));
}
