// `train`: an IR-ResNet with a margin head on TFRecord shards; checkpoints, exact resume,
// TensorBoard curves, and the embedding network in the standard tfjs format.
import type { StageKind } from '../../src/stage-api.js';
import type { TrainParams } from '../../src/train/config.js';

export const kind: StageKind<TrainParams> = {
  version: '1',
  description: 'train an IR-ResNet + ArcFace face recognizer',
  compute: true,
  // Weights are bit-reproducible (same seed, CPU and backend); logs carry wall-clock times.
  reproducible: { outputs: ['model/**', 'head/**'], metrics: ['steps', 'loss', 'accuracy', 'accuracy_cos'] },
  // Checkpoints live in the work folder, so a re-run resumes instead of starting over.
  persistentWork: true,
  // Training uses every core; it does not share the machine with other stages.
  resources: { machine: true, gpus: 1 },
  async run(ctx) {
    const { runTrain } = await import('./run.js');
    await runTrain(ctx);
  },
};
