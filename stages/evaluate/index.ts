// `evaluate`: insightface's verification protocol on lfw, cfp_fp, agedb_30 … for a trained model.
import type { StageKind } from '../../src/stage-api.js';

export interface EvaluateParams {
  model: string;
  data?: string;
  datasets?: string[];
  bins?: string[];
  channels?: 'auto' | 'rgb' | 'bgr';
  batch_size?: number;
}

export const kind: StageKind<EvaluateParams> = {
  version: '1',
  description: 'evaluate an embedding model on verification .bin sets (insightface protocol)',
  compute: true,
  resources: { gpus: 1 },
  async run(ctx) {
    const { runEvaluate } = await import('./run.js');
    await runEvaluate(ctx);
  },
};
