// facepipe's training step against the same model trained in Keras 3 on the same TensorFlow 2.21
// (the reference venv's, from the wheel the native backend is built on): IR-ResNet50 + ArcFace
// over 85,742 classes, batch 16, 112×112, L2 5e-4 (REGULARIZATION.original), SGD momentum 0.9.
// Keras runs bench/keras_iresnet.py as a tf.function-compiled train step (graph mode) and eagerly,
// for reference. facepipe runs its real step: trainStep + Sgd (src/train), with the 'fast' kernels,
// and with the trunk's gradient left to the tape (the pre-trunk.ts memory behaviour) for comparison.
//
// Each run is a fresh process (its peak RSS is its own) with the same thread settings:
// TF_NUM_INTEROP_THREADS=1, TF_ENABLE_ONEDNN_OPTS=1, intra-op threads = cores — facepipe's native
// defaults. Speed: median of FACEPIPE_BENCH_STEPS (5) steps after FACEPIPE_BENCH_WARMUP (5);
// CPU seconds (all threads) per step are printed too, being the measure that other processes on
// the machine disturb least. The load average is printed around each run. On a shared machine,
// FACEPIPE_BENCH_ROUNDS=n runs every variant n times, interleaved, and keeps each one's fastest
// round (the least disturbed).
//
//   node dist/bench/train-keras.js [--tiny] [--no-eager] [--no-tape]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { findPythonRef } from '../src/backend/python.js';
import { loadTf } from '../src/backend/tf.js';
import { DEFAULT_MARGIN, REGULARIZATION, backboneConfig, type BackboneConfig } from '../src/model/config.js';
import { FAST, type KernelChoice } from '../src/model/kernels.js';
import { createFaceModel } from '../src/model/model.js';
import { Sgd } from '../src/train/optimizer.js';
import { trainStep } from '../src/train/step.js';
import { median, type BenchResult } from './timing.js';

type Size = 'r50' | 'tiny';

// keras_iresnet.py's SIZES, same names.
const SIZES: Record<Size, { backbone: BackboneConfig; classes: number }> = {
  r50: { backbone: backboneConfig(), classes: 85_742 },
  tiny: { backbone: backboneConfig({ widths: [8, 16, 16, 32], stem: 8, inputSize: 32, embedding: 64 }), classes: 1000 },
};
const BATCH = 16;
const LR = 0.0005;

const VARIANTS: Record<string, KernelChoice> = {
  fast: FAST,
  'fast, trunk on the tape': { ...FAST, trunk: 'tape' },
};

interface RunResult {
  stepMs: number[];
  cpuMs: number[];
  peakRssMB: number;
  /** Load average (1 min) before and after the run. */
  load?: [number, number];
}

const envInt = (k: string, d: number): number => (process.env[k] && /^\d+$/.test(process.env[k]!) ? Number(process.env[k]) : d);
const WARMUP = envInt('FACEPIPE_BENCH_WARMUP', 5);
const STEPS = envInt('FACEPIPE_BENCH_STEPS', 5);
const ROUNDS = Math.max(1, envInt('FACEPIPE_BENCH_ROUNDS', 1));

/** VmHWM: the process's peak resident set. */
function peakRssMB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** In the child: facepipe's trainStep on a fixed random batch. */
async function measureFacepipe(size: Size, variant: string): Promise<RunResult> {
  const { tf } = await loadTf({ prefer: 'cpu', quiet: true });
  const s = SIZES[size];
  const model = createFaceModel(tf, {
    backbone: s.backbone,
    head: { classes: s.classes, margin: DEFAULT_MARGIN, init: 'original' },
    regularization: REGULARIZATION.original,
  }, { impl: VARIANTS[variant]!, seed: 1 });
  const opt = new Sgd(tf, model.params.trainable(), { momentum: 0.9, weightDecay: 0 });
  const n = s.backbone.inputSize;
  const images = tf.tidy(() => (tf.randomUniform([BATCH, n, n, 3], -1, 1, 'float32', 2) as Tensor4D).dataSync() as Float32Array);
  const labels = tf.tidy(() => (tf.randomUniform([BATCH], 0, s.classes, 'int32', 3) as Tensor1D).dataSync() as Int32Array);
  const step = (i: number): [number, number] => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    // trainStep reads its losses back, so it returns when the step has finished.
    trainStep(tf, model, opt, [{ images, labels, n: BATCH }], { lr: LR, step: i, seed: 1, regCoef: 1 });
    const c = process.cpuUsage(c0);
    return [performance.now() - t0, (c.user + c.system) / 1000];
  };
  for (let i = 0; i < WARMUP; i++) step(i);
  const measured = Array.from({ length: STEPS }, (_, i) => step(WARMUP + i));
  return { stepMs: measured.map((m) => m[0]), cpuMs: measured.map((m) => m[1]), peakRssMB: peakRssMB() };
}

/** The thread settings of facepipe's native backend, spelled out for both languages. */
const threadEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  TF_CPP_MIN_LOG_LEVEL: '2',
  TF_ENABLE_ONEDNN_OPTS: '1',
  TF_NUM_INTEROP_THREADS: '1',
  TF_NUM_INTRAOP_THREADS: String(os.availableParallelism()),
});

function runJson(cmd: string, args: string[]): RunResult {
  const before = os.loadavg()[0]!;
  const out = execFileSync(cmd, args, { encoding: 'utf8', env: threadEnv(), stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as RunResult;
  return { ...r, load: [before, os.loadavg()[0]!] };
}

const runFacepipe = (size: Size, variant: string): RunResult =>
  runJson(process.execPath, [fileURLToPath(import.meta.url), '--child', size, variant]);

function runKeras(python: string, mode: 'graph' | 'eager', size: Size): RunResult {
  const script = fileURLToPath(new URL('../../bench/keras_iresnet.py', import.meta.url));
  return runJson(python, [script, mode, size, String(WARMUP), String(STEPS)]);
}

interface Summary { ips: number; cpuS: number; gib: number }

export async function benchTrainKeras(opts: { size?: Size; eager?: boolean; tape?: boolean } = {}): Promise<BenchResult> {
  const python = findPythonRef({ tensorflow: true });
  if (!python) throw new Error('bench train-keras needs the reference Python with TensorFlow: run `node bin/facepipe.js setup --python --tensorflow` (npm run bench does)');
  const size = opts.size ?? 'r50';
  const runs: [string, () => RunResult][] = [
    ["facepipe 'fast'", () => runFacepipe(size, 'fast')],
    ['Keras graph (tf.function)', () => runKeras(python, 'graph', size)],
    ...(opts.eager ?? true ? [['Keras eager', () => runKeras(python, 'eager', size)] as [string, () => RunResult]] : []),
    ...(opts.tape ?? true ? [["facepipe 'fast', trunk on the tape", () => runFacepipe(size, 'fast, trunk on the tape')] as [string, () => RunResult]] : []),
  ];
  const best = new Map<string, RunResult>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of runs) {
      const r = run();
      const prev = best.get(name);
      if (!prev || median(r.stepMs) < median(prev.stepMs)) best.set(name, r);
    }
  }
  const rows: [string, number][] = [];
  const by: Record<string, Summary> = {};
  for (const [name] of runs) {
    const r = best.get(name)!;
    const ms = median(r.stepMs);
    by[name] = { ips: (BATCH * 1000) / ms, cpuS: median(r.cpuMs) / 1000, gib: r.peakRssMB / 1024 };
    const load = r.load ? `, load ${r.load[0].toFixed(1)}→${r.load[1].toFixed(1)}` : '';
    rows.push([`${name}: ${by[name]!.ips.toFixed(2)} img/s, ${by[name]!.cpuS.toFixed(2)} CPU-s/step, peak RSS ${by[name]!.gib.toFixed(2)} GiB${load}`, ms]);
  }
  const fp = by["facepipe 'fast'"]!;
  const ratios: [string, number][] = [];
  for (const [name, k] of Object.entries(by).filter(([n]) => n.startsWith('Keras'))) {
    ratios.push([`facepipe / ${name}: speed (img/s)`, fp.ips / k.ips]);
    ratios.push([`facepipe / ${name}: CPU time per image, inverted`, k.cpuS / fp.cpuS]);
    ratios.push([`facepipe / ${name}: peak RSS`, fp.gib / k.gib]);
  }
  const tape = by["facepipe 'fast', trunk on the tape"];
  if (tape) ratios.push(["trunk.ts: peak RSS of 'fast' / trunk on the tape", fp.gib / tape.gib]);
  return {
    name: `training step vs Keras 3: IR-ResNet50 + ArcFace, ${SIZES[size].classes.toLocaleString('en')} classes, batch ${BATCH}, ${os.availableParallelism()} cores (${size}${ROUNDS > 1 ? `, best of ${ROUNDS} rounds` : ''})`,
    rows,
    ratios,
    goal: 'facepipe ≥ 1.3× Keras graph speed and peak RSS ≤ Keras graph\'s (measured earlier here: Keras graph 1.49 img/s at 3.9 GiB, eager 1.11; facepipe \'fast\' ~7.9 img/s at 6.3 GiB)',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    process.stdout.write(`${JSON.stringify(await measureFacepipe(args[1] as Size, args[2]!))}\n`);
  } else {
    const { formatResult } = await import('./timing.js');
    console.log(formatResult(await benchTrainKeras({ size: args.includes('--tiny') ? 'tiny' : 'r50', eager: !args.includes('--no-eager'), tape: !args.includes('--no-tape') })));
  }
}
