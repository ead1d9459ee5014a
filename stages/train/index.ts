// `train`: an IR-ResNet with a margin head on TFRecord shards; checkpoints, exact resume,
// TensorBoard curves, and the embedding network in the standard tfjs format.
import type { StageKind } from '../../src/stage-api.js';
import { globalBatch, type TrainParams } from '../../src/train/config.js';

export const kind: StageKind<TrainParams> = {
  version: '1',
  description: 'train an IR-ResNet + ArcFace face recognizer',
  compute: true,
  // Weights are bit-reproducible (same seed, CPU and backend); logs carry wall-clock times.
  reproducible: { outputs: ['model/**', 'head/**'], metrics: ['steps', 'loss', 'accuracy', 'accuracy_cos'] },
  // Checkpoints live in the work folder, so a re-run resumes instead of starting over.
  persistentWork: true,
  // Checkpoints depend on the global batch, not on how it is split: a run interrupted with
  // 3 replicas × 128 resumes with 1 × 128 × accumulate 3, or 1 × 384.
  workParams: ({ batch_size, replicas, accumulate, ...rest }) => ({ ...rest, global_batch: globalBatch({ batch_size, replicas, accumulate }) }),
  // Training uses every core; it does not share the machine with other stages. One GPU per replica.
  resources: (p) => ({ machine: true, gpus: p.replicas ?? 1 }),
  async run(ctx) {
    const { runTrain } = await import('./run.js');
    await runTrain(ctx);
  },
};
