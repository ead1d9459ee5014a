// matMul throughput, the number `facepipe doctor --bench` compares backends by. Also a child
// entry point: the pure-JS backend is measured in its own process, because a process can hold
// only one active tfjs engine (see tf.ts) and the doctor's process already runs the native one.
//   node dist/src/backend/matmul-bench.js <gpu|cpu|js> <n> <reps>   -> one JSON line on stdout
import { pathToFileURL } from 'node:url';
import { loadTf, type Tf } from './tf.js';

export interface MatMulBench {
  n: number;
  reps: number;
  medianMs: number;
  gflops: number;
}

/** Median time of an n×n by n×n float32 matMul after warm-up (2n³ flops each). The result is
 *  reduced to a scalar before reading so the timing is the product, not a 4·n² byte download. */
export async function benchMatMul(tf: Tf, n: number, reps: number, warmup = 2): Promise<MatMulBench> {
  const a = tf.randomUniform([n, n]);
  const b = tf.randomUniform([n, n]);
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const s = tf.tidy(() => tf.sum(tf.matMul(a, b)));
    await s.data();
    s.dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await once());
  a.dispose();
  b.dispose();
  times.sort((x, y) => x - y);
  const medianMs = times[Math.floor(times.length / 2)]!;
  return { n, reps, medianMs, gflops: (2 * n ** 3) / (medianMs * 1e6) };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const [prefer, n, reps] = process.argv.slice(2);
  if (prefer !== 'gpu' && prefer !== 'cpu' && prefer !== 'js') throw new Error(`usage: matmul-bench <gpu|cpu|js> <n> <reps>`);
  const { tf, info } = await loadTf({ prefer, quiet: true });
  const r = await benchMatMul(tf, Number(n ?? 256), Number(reps ?? 5), 1);
  process.stdout.write(JSON.stringify({ ...r, backend: info.backend }) + '\n');
}
