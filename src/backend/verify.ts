// "Does this tfjs-node build really run on TensorFlow?" — asked in a fresh child process, because
// loading a broken native addon can abort the whole process (a missing .so, a bad symbol) and
// because tfjs silently falls back to its JS backend when the native one fails to initialise.
import { run } from './run.js';

export interface VerifyResult {
  ok: boolean;
  /** What tf.getBackend() said in the child. */
  backend?: string;
  /** TF_Version() reported by the loaded libtensorflow. */
  tensorflowVersion?: string;
  tfjsVersion?: string;
  /** Why it is not ok, for messages. */
  error?: string;
}

/** Environment for native TensorFlow unless the user chose otherwise (see tf.ts for why). */
export function nativeEnvDefaults(): Record<string, string> {
  const d: Record<string, string> = {
    TF_CPP_MIN_LOG_LEVEL: '2',
    TF_ENABLE_ONEDNN_OPTS: '1',
    TF_NUM_INTEROP_THREADS: '1',
  };
  for (const k of Object.keys(d)) if (process.env[k] !== undefined) delete d[k];
  return d;
}

// CommonJS on purpose (node -e): tfjs-node is a CommonJS package. Besides a 2x2 product it
// multiplies two non-square matrices so Eigen's real (blocked) kernel is exercised, and compares
// with a plain JS triple loop.
const SCRIPT = `
const tf = require(process.argv[1]);
const out = { backend: tf.getBackend(), tfjs: tf.version && tf.version.tfjs };
const b = tf.backend();
out.tf = b && b.binding ? b.binding.TF_Version : undefined;
const small = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).arraySync();
out.smallOk = JSON.stringify(small) === '[[19,22],[43,50]]';
const M = 37, K = 70, N = 29;
const a = Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) - 6);
const c = Array.from({ length: K * N }, (_, i) => ((i * 5) % 11) - 5);
const got = tf.matMul(tf.tensor2d(a, [M, K]), tf.tensor2d(c, [K, N])).dataSync();
let maxErr = 0;
for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
  let s = 0; for (let k = 0; k < K; k++) s += a[i * K + k] * c[k * N + j];
  maxErr = Math.max(maxErr, Math.abs(s - got[i * N + j]));
}
out.bigOk = maxErr === 0;
process.stdout.write('\\nFACEPIPE_VERIFY ' + JSON.stringify(out) + '\\n');
`;

/** Loads the tfjs-node(-gpu) package at pkgDir in a child `node` and checks it computes on the
 *  'tensorflow' backend. Never throws. */
export async function verifyNative(pkgDir: string, timeoutMs = 180_000): Promise<VerifyResult> {
  const r = await run(process.execPath, ['-e', SCRIPT, pkgDir], {
    timeoutMs,
    env: { ...nativeEnvDefaults() },
  });
  const line = r.output.split('\n').reverse().find((l) => l.startsWith('FACEPIPE_VERIFY '));
  if (!line) {
    const why = r.timedOut ? `timed out after ${timeoutMs / 1000} s` : `exit code ${r.exitCode}`;
    const lines = r.output.trim().split('\n');
    // The interesting line of a failed require is usually the first Error line.
    const err = lines.find((l) => /Error/.test(l)) ?? lines.slice(-3).join(' | ');
    return { ok: false, error: `loading ${pkgDir} failed (${why}): ${err}` };
  }
  const o = JSON.parse(line.slice('FACEPIPE_VERIFY '.length)) as {
    backend: string; tfjs?: string; tf?: string; smallOk: boolean; bigOk: boolean;
  };
  const base = { backend: o.backend, tensorflowVersion: o.tf, tfjsVersion: o.tfjs };
  if (o.backend !== 'tensorflow') {
    return { ...base, ok: false, error: `tf.getBackend() is '${o.backend}', not 'tensorflow'` };
  }
  if (!o.smallOk || !o.bigOk) return { ...base, ok: false, error: 'matMul returned wrong numbers' };
  return { ...base, ok: true };
}
