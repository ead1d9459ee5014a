// doctor: advice for the situations users hit, and a real benchmark run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { advise, doctor, formatDoctor, type DoctorReport } from '../../src/backend/doctor.js';
import type { BackendInfo } from '../../src/backend/tf.js';

const info = (o: Partial<BackendInfo>): BackendInfo => ({
  backend: 'tensorflow', package: '@tensorflow/tfjs-node', location: 'facepipe-cache', path: '/x', gpu: false,
  tfjsVersion: '4.22.0', threads: { onednn: true, interOp: 1 }, ...o,
});
const base = (o: Partial<DoctorReport>): Omit<DoctorReport, 'advice' | 'bench'> => ({
  node: 'v20', platform: 'linux-x64', cores: 2, cpuModel: 'x', env: {},
  gpu: { nvidiaSmi: false, devices: [], hiddenByEnv: false, visible: false },
  cache: { dir: '/c', builds: { cpu: { path: '/c/cpu', built: false }, gpu: { path: '/c/gpu', built: false } } }, ...o,
});

test('advice: pure JS -> setup; native CPU with a visible GPU -> setup --gpu', () => {
  const js = advise(base({ backend: info({ backend: 'cpu', package: '@tensorflow/tfjs', location: 'project', threads: { onednn: false } }) }));
  assert.ok(js.some((a) => a.includes('npx facepipe setup`')), js.join('\n'));

  const gpu = { nvidiaSmi: true, devices: ['NVIDIA L4, 550.54'], hiddenByEnv: false, visible: true };
  const cpuWithGpu = advise(base({ backend: info({}), gpu }));
  assert.ok(cpuWithGpu.some((a) => a.includes('npx facepipe setup --gpu') && a.includes('CUDA 12')), cpuWithGpu.join('\n'));

  const hidden = advise(base({ backend: info({}), gpu: { ...gpu, cudaVisibleDevices: '', hiddenByEnv: true, visible: false } }));
  assert.ok(!hidden.some((a) => a.includes('--gpu')), hidden.join('\n'));
});

test('doctor --bench measures the loaded backend (and pure JS in a child when native)', { timeout: 120_000 }, async () => {
  const t0 = performance.now();
  const r = await doctor({ bench: true });
  const seconds = (performance.now() - t0) / 1000;
  assert.ok(r.backend, r.loadError);
  assert.ok(r.bench?.loaded && r.bench.loaded.gflops > 0);
  if (r.backend.backend === 'tensorflow') {
    assert.ok(r.bench.js, r.bench.jsError);
    assert.ok(r.bench.ratio !== undefined && r.bench.ratio > 5, `native only ${r.bench.ratio}x pure JS`);
  }
  assert.ok(seconds < 30, `doctor --bench took ${seconds} s`);
  const text = formatDoctor(r);
  assert.match(text, /matMul benchmark:/);
  assert.match(text, /GFLOP\/s/);
});
