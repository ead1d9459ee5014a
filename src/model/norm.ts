// The normalisation chosen in the config, behind one params/forward pair.
import type { Tensor } from '@tensorflow/tfjs';
import type { NormConfig } from './config.js';
import { bnForward, bnParams, type AffineOpts } from './batchnorm.js';
import { gnForward, gnParams } from './groupnorm.js';
import type { Ctx, ForwardOptions } from './kernels.js';
import type { ParamSpec } from './params.js';
import { renormForward, renormParams } from './renorm.js';

export function normParams(cfg: NormConfig, name: string, c: number, o: AffineOpts = { scale: true }): ParamSpec[] {
  switch (cfg.kind) {
    case 'batch': return bnParams(name, c, o);
    case 'renorm': return renormParams(name, c, o);
    case 'group': return gnParams(name, c, o);
  }
}

export function normForward(ctx: Ctx, cfg: NormConfig, name: string, x: Tensor, f: ForwardOptions,
  o: AffineOpts = { scale: true }): Tensor {
  switch (cfg.kind) {
    case 'batch': return bnForward(ctx, name, cfg, x, f, o);
    case 'renorm': return renormForward(ctx, name, cfg, x, f, o);
    case 'group': return gnForward(ctx, name, cfg, x, o);
  }
}
