import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { doctor, formatDoctor } from '../../src/backend/doctor.js';
import { benchMatMul } from '../../src/backend/matmul-bench.js';
import { loadTf } from '../../src/backend/tf.js';
import type { StageContext } from '../../src/stage-api.js';
import type { DoctorParams } from './index.js';

export async function runDoctor(ctx: StageContext<DoctorParams>): Promise<void> {
  const size = ctx.params.matmul_size ?? 1024;
  ctx.progress({ done: 0, total: 2, unit: 'steps', note: 'loading the backend' });
  const report = await doctor({ bench: ctx.params.compare_js ?? true });
  const { tf, info } = await loadTf({ quiet: true });
  ctx.progress({ done: 1, total: 2, unit: 'steps', note: `timing ${size}×${size} matMul` });
  const bench = await benchMatMul(tf, size, info.backend === 'tensorflow' ? 21 : 5, 3);
  ctx.progress({ done: 2, total: 2, unit: 'steps' });
  await writeFile(path.join(ctx.outDir, 'doctor.json'), JSON.stringify({ ...report, matmul: bench }, null, 2) + '\n');
  await writeFile(path.join(ctx.outDir, 'doctor.txt'), formatDoctor(report) + '\n');
  ctx.log(formatDoctor(report));
  ctx.metrics({
    backend: info.backend,
    package: info.package,
    tensorflow: info.tensorflowVersion ?? null,
    matmul_gflops: bench.gflops,
    ...(report.bench?.js ? { matmul_gflops_pure_js: report.bench.js.gflops, speedup_vs_pure_js: bench.gflops / report.bench.js.gflops } : {}),
  });
}
