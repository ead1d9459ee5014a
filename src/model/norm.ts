// The normalisation chosen in the config, behind one params/forward pair.
import type { Tensor } from '@tensorflow/tfjs';
import type { NormConfig } from './config.js';
import { bnForward, bnParams, bnTraining, type AffineOpts, type NormTraining } from './batchnorm.js';
import { gnForward, gnParams } from './groupnorm.js';
import type { Ctx, ForwardOptions } from './kernels.js';
import type { ParamSpec } from './params.js';
import { renormForward, renormParams, renormTraining } from './renorm.js';

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

/** Batch norm or renorm in training mode, split for a caller that runs the fused op itself
 *  (trunk.ts). Group norm has no batch statistics and no such split. */
export function normTraining(ctx: Ctx, cfg: NormConfig, name: string, f: ForwardOptions,
  o: AffineOpts = { scale: true }): NormTraining {
  switch (cfg.kind) {
    case 'batch': return bnTraining(ctx, name, cfg, o);
    case 'renorm': return renormTraining(ctx, name, cfg, f, o);
    case 'group': throw new Error(`normTraining: group norm '${name}' has no batch statistics`);
  }
}
