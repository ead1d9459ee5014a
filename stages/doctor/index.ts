// `doctor`: records, as a pipeline stage, which TensorFlow backend compute stages get on this
// machine and how fast it multiplies matrices — the first stage of the quickstart, and a
// reproducible record of the machine next to a run's results.
import type { StageKind } from '../../src/stage-api.js';

export interface DoctorParams {
  /** Also time matMul on the pure-JS backend (a few seconds), to show the speed-up. */
  compare_js?: boolean;
  /** Side of the square matrices timed on the loaded backend. */
  matmul_size?: number;
}

export const kind: StageKind<DoctorParams> = {
  version: '1',
  description: 'record the TensorFlow backend, its versions and its matMul GFLOP/s',
  compute: true,
  // Timings of this machine at this moment: nothing to reproduce.
  reproducible: 'none',
  // A benchmark: it must not share the cores with another stage.
  resources: { machine: true },
  async run(ctx) {
    const { runDoctor } = await import('./run.js');
    await runDoctor(ctx);
  },
};
