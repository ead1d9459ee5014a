// `facepipe doctor`: which TensorFlow backend this machine gets, from where, how it is
// configured, and what to do for a faster one. With `bench`, matMul GFLOP/s on the loaded
// backend and (in a child process, see matmul-bench.ts) on the pure-JS backend.
import { existsSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchMatMul, type MatMulBench } from './matmul-bench.js';
import { cacheDir, nativeDir, stampPath, type Variant } from './paths.js';
import { run, which } from './run.js';
import { loadTf, type BackendInfo } from './tf.js';

const ENV_KEYS = ['FACEPIPE_BACKEND', 'FACEPIPE_CACHE_DIR', 'TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS',
  'TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL', 'CUDA_VISIBLE_DEVICES'] as const;

export interface DoctorReport {
  node: string;
  platform: string;
  cores: number;
  cpuModel: string;
  backend?: BackendInfo;
  /** Why no backend loaded (only with a forced FACEPIPE_BACKEND; auto always finds pure JS). */
  loadError?: string;
  env: Partial<Record<(typeof ENV_KEYS)[number], string>>;
  gpu: { nvidiaSmi: boolean; devices: string[]; cudaVisibleDevices?: string; hiddenByEnv: boolean; visible: boolean };
  cache: { dir: string; builds: Record<Variant, { path: string; built: boolean }> };
  advice: string[];
  bench?: { loaded?: MatMulBench; js?: MatMulBench; jsError?: string; ratio?: number };
}

/** GPUs as nvidia-smi lists them; CUDA_VISIBLE_DEVICES='' or '-1' hides them all from TF. */
async function gpuInfo(): Promise<DoctorReport['gpu']> {
  const smi = which('nvidia-smi');
  let devices: string[] = [];
  if (smi) {
    const r = await run(smi, ['--query-gpu=name,driver_version', '--format=csv,noheader'], { timeoutMs: 15_000 });
    if (r.ok) devices = r.output.split('\n').map((l) => l.trim()).filter(Boolean);
  }
  const cvd = process.env.CUDA_VISIBLE_DEVICES;
  const hiddenByEnv = cvd !== undefined && (cvd.trim() === '' || cvd.trim() === '-1');
  const present = devices.length > 0 || existsSync('/dev/nvidia0');
  return { nvidiaSmi: Boolean(smi), devices, ...(cvd !== undefined ? { cudaVisibleDevices: cvd } : {}),
    hiddenByEnv, visible: present && !hiddenByEnv };
}

/** Concrete next steps for a faster or working backend (exported for tests). */
export function advise(r: Omit<DoctorReport, 'advice' | 'bench'>): string[] {
  const a: string[] = [];
  const b = r.backend;
  if (!b) {
    a.push(`${r.loadError ?? 'no backend loaded'}`);
    return a;
  }
  if (b.backend === 'cpu' && process.env.FACEPIPE_BACKEND === 'js') {
    a.push('FACEPIPE_BACKEND=js forces the pure-JS backend (~100x slower): unset it to use a native one' +
      `${r.cache.builds.cpu.built ? ' (a native CPU build is in the cache)' : ' (after `npx facepipe setup`)'}.`);
  } else if (b.backend === 'cpu') {
    a.push('Pure-JS backend (~100x slower than native): run `npx facepipe setup` to build the native ' +
      'TensorFlow backend (about a minute; needs python3 and a C++ toolchain).');
  }
  if (r.gpu.visible && !b.gpu) {
    a.push(`An NVIDIA GPU is visible (${r.gpu.devices[0] ?? '/dev/nvidia0'}): \`npx facepipe setup --gpu\` ` +
      'builds the GPU backend (needs the CUDA 12 and cuDNN 9 runtime libraries).');
  }
  if (b.gpu && !r.gpu.visible) a.push('The GPU build is loaded but no GPU is visible: TensorFlow will run on the CPU.');
  if (b.backend === 'tensorflow' && !b.threads.onednn) {
    a.push('TF_ENABLE_ONEDNN_OPTS is not 1: oneDNN made convolutions ~35% faster on this kind of CPU.');
  }
  if (b.threads.intraOp !== undefined && b.threads.intraOp < r.cores) {
    a.push(`TF_NUM_INTRAOP_THREADS=${b.threads.intraOp} uses fewer threads than the ${r.cores} cores.`);
  }
  if (!a.length) a.push('Nothing to improve: the fastest backend available here is in use.');
  return a;
}

/** Pure-JS matMul in a fresh process (its own tfjs engine). ~100x slower: a small size. */
async function benchJsChild(n: number, reps: number): Promise<MatMulBench> {
  const script = fileURLToPath(new URL('./matmul-bench.js', import.meta.url));
  const r = await run(process.execPath, [script, 'js', String(n), String(reps)], {
    timeoutMs: 60_000, env: { FACEPIPE_BACKEND: 'js' },
  });
  const line = r.output.split('\n').reverse().find((l) => l.startsWith('{'));
  if (!r.ok || !line) throw new Error(`pure-JS benchmark failed: ${r.output.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(line) as MatMulBench;
}

export async function doctor(opts: { bench: boolean }): Promise<DoctorReport> {
  const env: DoctorReport['env'] = {};
  const base = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    env,
    gpu: await gpuInfo(),
    cache: { dir: cacheDir(), builds: {
      cpu: { path: nativeDir('cpu'), built: existsSync(stampPath(nativeDir('cpu'))) },
      gpu: { path: nativeDir('gpu'), built: existsSync(stampPath(nativeDir('gpu'))) },
    } },
  };
  let loaded: Awaited<ReturnType<typeof loadTf>> | undefined;
  let loadError: string | undefined;
  try {
    loaded = await loadTf({ quiet: true });
  } catch (e) {
    loadError = (e as Error).message;
  }
  // Read after loading: loadTf fills in the TF_* defaults it applies.
  for (const k of ENV_KEYS) if (process.env[k] !== undefined) env[k] = process.env[k];
  const partial = { ...base, ...(loaded ? { backend: loaded.info } : {}), ...(loadError ? { loadError } : {}) };
  const report: DoctorReport = { ...partial, advice: advise(partial) };

  if (opts.bench && loaded) {
    const bench: NonNullable<DoctorReport['bench']> = {};
    const native = loaded.info.backend === 'tensorflow';
    // Native: 1024³ takes ~5-25 ms here; pure JS: 512³ takes ~0.2 s. Both well under 30 s total.
    bench.loaded = await benchMatMul(loaded.tf, native ? 1024 : 256, native ? 21 : 9, native ? 5 : 2);
    if (native) {
      try {
        bench.js = await benchJsChild(512, 5);
        bench.ratio = bench.loaded.gflops / bench.js.gflops;
      } catch (e) {
        bench.jsError = (e as Error).message;
      }
    }
    report.bench = bench;
  }
  return report;
}

const gf = (b: MatMulBench): string => `${b.gflops.toFixed(1)} GFLOP/s (${b.n}x${b.n}, median of ${b.reps}: ${b.medianMs.toFixed(1)} ms)`;

export function formatDoctor(r: DoctorReport): string {
  const out: string[] = [];
  const b = r.backend;
  out.push(`node ${r.node} on ${r.platform}, ${r.cores} cores (${r.cpuModel})`);
  if (b) {
    out.push(`backend:     ${b.backend === 'tensorflow' ? `native TensorFlow${b.gpu ? ' (GPU build)' : ' (CPU)'}` : 'pure JavaScript (cpu)'}`);
    out.push(`package:     ${b.package} from the ${b.location === 'project' ? 'project' : 'facepipe cache'}: ${b.path}`);
    out.push(`versions:    tfjs ${b.tfjsVersion}${b.tensorflowVersion ? `, TensorFlow ${b.tensorflowVersion}` : ''}`);
    const t = b.threads;
    out.push(b.backend === 'cpu' ? 'threads:     1 (the pure-JS backend does not use more)'
      : `threads:     intra-op ${t.intraOp ?? `default (${r.cores})`}, inter-op ${t.interOp ?? 'default'}, oneDNN ${t.onednn ? 'on' : 'off'}`);
  } else {
    out.push('backend:     none could be loaded');
  }
  const envs = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  out.push(`environment: ${envs.length ? envs.join(' ') : '(none of the TF_* / FACEPIPE_* variables set)'}`);
  const g = r.gpu;
  out.push(`GPU:         ${g.devices.length ? g.devices.join('; ') : g.nvidiaSmi ? 'nvidia-smi found, no devices' : 'none (no nvidia-smi)'}` +
    `${g.cudaVisibleDevices !== undefined ? `, CUDA_VISIBLE_DEVICES=${g.cudaVisibleDevices}` : ''}${g.hiddenByEnv ? ' (hidden)' : ''}`);
  out.push(`cache:       ${r.cache.dir}`);
  for (const v of ['cpu', 'gpu'] as const) out.push(`  ${v} build: ${r.cache.builds[v].built ? r.cache.builds[v].path : 'not built'}`);
  if (r.bench) {
    out.push('matMul benchmark:');
    if (r.bench.loaded) out.push(`  ${b?.backend === 'tensorflow' ? 'native' : 'pure JS'}: ${gf(r.bench.loaded)}`);
    if (r.bench.js) out.push(`  pure JS: ${gf(r.bench.js)}`);
    if (r.bench.jsError) out.push(`  pure JS: ${r.bench.jsError}`);
    if (r.bench.ratio) out.push(`  native / pure JS: ${r.bench.ratio.toFixed(0)}x`);
  }
  out.push('advice:');
  for (const a of r.advice) out.push(`  - ${a.split('\n').join('\n    ')}`);
  return out.join('\n') + '\n';
}
