// `synth`: the embedded default dataset. Renders deterministic synthetic faces — per-person
// geometry and colours, per-photo pose, expression, light and noise — into a real insightface
// folder (train.rec/.idx/property) and a verification .bin of held-out people, so the quickstart
// trains and evaluates on a fresh machine without downloading anything.
import type { StageKind } from '../../src/stage-api.js';
import type { Difficulty } from '../../src/data/synth-faces.js';

export interface SynthParams {
  identities?: number;
  images_per_identity?: number;
  holdout_identities?: number;
  pairs?: number;
  size?: number;
  seed?: number;
  quality?: number;
  difficulty?: Difficulty;
}

export const kind: StageKind<SynthParams> = {
  version: '1',
  description: 'render a synthetic face dataset: insightface train.rec/.idx/property and a held-out verification .bin',
  async run(ctx) {
    const { runSynth } = await import('./run.js');
    await runSynth(ctx);
  },
};
