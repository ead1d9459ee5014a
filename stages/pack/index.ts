// `pack`: a folder of face photos → an insightface dataset (train.rec/.idx/property) and a
// verification .bin — what insightface users keep asking how to make.
import type { StageKind } from '../../src/stage-api.js';
import type { VerificationForm } from '../../src/formats/verification-bin.js';

export interface PackParams {
  images: string;
  size?: number;
  fit?: 'cover' | 'fill';
  quality?: number;
  holdout_identities?: number;
  pairs?: number;
  pairs_file?: string;
  bin_name?: string;
  bin_form?: VerificationForm;
  seed?: number;
}

export const kind: StageKind<PackParams> = {
  version: '1',
  description: 'pack an image folder into insightface train.rec/.idx/property and a verification .bin',
  async run(ctx) {
    const { runPack } = await import('./run.js');
    await runPack(ctx);
  },
};
