// A hash worker (see hash-pool.ts): hashes batches of files with blocking I/O on its own thread.
import { parentPort } from 'node:worker_threads';
import { CHUNK, hashFileSync } from './hash-file.js';
import type { BatchReply, BatchRequest } from './hash-pool.js';

const buf = Buffer.allocUnsafe(CHUNK);

parentPort?.on('message', (req: BatchRequest) => {
  const reply: BatchReply = {
    id: req.id,
    results: req.files.map((f) => {
      try {
        return { ok: true, hashed: hashFileSync(f.real, buf, f.shown) };
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        return { ok: false, message: err.message, ...(err.code ? { code: err.code } : {}) };
      }
    }),
  };
  parentPort?.postMessage(reply);
});
