// `convert`: insightface RecordIO → sharded TFRecord, in parallel worker threads, deterministic.
import type { StageKind } from '../../src/stage-api.js';

export interface ConvertParams {
  input: string;
  idx?: string;
  shards?: number;
  shuffle?: boolean;
  seed?: number;
  limit?: number;
  skip_corrupt?: boolean;
  check_images?: 'header' | 'none';
  prefix?: string;
}

export const kind: StageKind<ConvertParams> = {
  version: '1',
  description: 'convert an MXNet .rec/.idx dataset into TFRecord shards',
  async run(ctx) {
    const { runConvert } = await import('./run.js');
    await runConvert(ctx);
  },
};
