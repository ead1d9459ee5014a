// The model's configuration: tagged unions for every choice, presets for the original TF2 project
// and for insightface's arcface_torch, and a check that names the offending key.
//
// Derived numbers (units per stage, spatial sizes) are computed from these, never stored in them.

export type Depth = 18 | 34 | 50 | 100;

/** IBasicBlock units per stage (insightface iresnet). */
export const UNITS: Record<Depth, readonly [number, number, number, number]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 14, 3],
  100: [3, 13, 30, 3],
};

/** Normalisation after every conv and in the embedding head. Batch statistics use the biased
 *  variance; moving averages follow MXNet/Keras: moving = momentum·moving + (1 − momentum)·batch. */
export type NormConfig =
  | { kind: 'batch'; eps: number; momentum: number }
  | {
    /** Batch renormalization (Ioffe 2017) as Keras' BatchNormalization(renorm=True) defines it
     *  (see renorm.ts). `warmupSteps` > 0 (not in Keras; the paper's schedule, linearised) relaxes
     *  the clipping from plain BN (rmax = rmin = 1, dmax = 0) to the values here over that many steps. */
    kind: 'renorm'; eps: number; momentum: number; renormMomentum: number;
    rmax: number; rmin: number; dmax: number; warmupSteps: number;
  }
  | { kind: 'group'; groups: number; eps: number };

/** PReLU slope: one per channel (insightface) or one per activation, shape (H, W, C) (the
 *  original's Keras default). */
export type PreluConfig = { kind: 'channel'; init: number } | { kind: 'element'; init: number };

/** 'original': glorot-normal kernels, glorot-uniform class weights (Keras defaults of the TF2
 *  project). 'insightface': arcface_torch iresnet.py — conv N(0, 0.1), FC PyTorch Linear default
 *  U(±1/√fan_in) for weight and bias, class weights N(0, 0.01). BN γ = 1, β = 0 in both. */
export type InitScheme = 'original' | 'insightface';

export interface BackboneConfig {
  depth: Depth;
  /** Output channels of the four stages. */
  widths: readonly [number, number, number, number];
  /** Channels of the stem conv. */
  stem: number;
  /** Square input size in pixels; divisible by 16 (four stride-2 stages). */
  inputSize: number;
  embedding: number;
  /** Dropout rate in the "E" head, training only. */
  dropout: number;
  norm: NormConfig;
  prelu: PreluConfig;
  init: InitScheme;
}

/** How the target class's cos θ becomes its logit (the others are s·cos θ). */
export type MarginConfig =
  | { kind: 'arcface'; s: number; m: number }
  | { kind: 'cosface'; s: number; m: number }
  | { kind: 'combined'; s: number; m1: number; m2: number; m3: number }
  /** Plain softmax: logits = e·W + b on the raw embedding. */
  | { kind: 'softmax' };

export interface HeadConfig {
  classes: number;
  margin: MarginConfig;
  init: InitScheme;
}

/** What an L2 penalty applies to. 'classes' is the margin head's weight matrix. */
export type ParamRole = 'kernel' | 'bias' | 'gamma' | 'beta' | 'alpha' | 'classes';

export const ALL_ROLES: readonly ParamRole[] = ['kernel', 'bias', 'gamma', 'beta', 'alpha', 'classes'];

/** loss += coef·Σ w² over the parameters whose role is listed (Keras l2(coef): gradient 2·coef·w).
 *  'none' adds nothing, e.g. when the optimiser applies decoupled weight decay instead. */
export type RegularizationConfig =
  | { kind: 'l2'; coef: number; roles: readonly ParamRole[] }
  | { kind: 'none' };

export const NORM = {
  batch: { kind: 'batch', eps: 2e-5, momentum: 0.9 },
  /** The original's renorm_clipping literally used rmin 0.3333, not 1/3. */
  renorm: { kind: 'renorm', eps: 2e-5, momentum: 0.9, renormMomentum: 0.9, rmax: 3, rmin: 0.3333, dmax: 5, warmupSteps: 0 },
  group: { kind: 'group', groups: 32, eps: 2e-5 },
} as const satisfies Record<string, NormConfig>;

export const REGULARIZATION = {
  /** The TF2 project: Keras l2(5e-4) on conv/dense/class kernels, BN γ, PReLU α and the embedding
   *  FC's bias (resnet_batchRenorm.py / resnet_groupNorm.py), never on β. */
  original: { kind: 'l2', coef: 5e-4, roles: ['kernel', 'classes', 'gamma', 'alpha', 'bias'] },
  /** arcface_torch: SGD weight_decay 5e-4 on every parameter = loss 2.5e-4·Σw² (gradient 5e-4·w). */
  insightface: { kind: 'l2', coef: 2.5e-4, roles: ALL_ROLES },
  none: { kind: 'none' },
} as const satisfies Record<string, RegularizationConfig>;

export const DEFAULT_BACKBONE: BackboneConfig = {
  depth: 50,
  widths: [64, 128, 256, 512],
  stem: 64,
  inputSize: 112,
  embedding: 512,
  dropout: 0.4,
  norm: NORM.batch,
  prelu: { kind: 'channel', init: 0.25 },
  init: 'original',
};

export const DEFAULT_MARGIN: MarginConfig = { kind: 'arcface', s: 64, m: 0.5 };

/** DEFAULT_BACKBONE with `over` applied (shallow: pass whole `norm` / `prelu` objects). */
export const backboneConfig = (over: Partial<BackboneConfig> = {}): BackboneConfig => ({ ...DEFAULT_BACKBONE, ...over });

/** Problems with a backbone config, each naming its key; empty when it is usable. */
export function checkBackbone(c: BackboneConfig): string[] {
  const errs: string[] = [];
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!(c.depth in UNITS)) errs.push(`depth: ${c.depth} is not one of 18, 34, 50, 100`);
  if (c.widths.length !== 4 || !c.widths.every(posInt)) errs.push(`widths: expected 4 positive integers, got [${c.widths.join(', ')}]`);
  if (!posInt(c.stem)) errs.push(`stem: expected a positive integer, got ${c.stem}`);
  if (!posInt(c.inputSize) || c.inputSize % 16 !== 0) errs.push(`inputSize: expected a positive multiple of 16, got ${c.inputSize}`);
  if (!posInt(c.embedding)) errs.push(`embedding: expected a positive integer, got ${c.embedding}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) errs.push(`dropout: expected a rate in [0, 1), got ${c.dropout}`);
  if (c.norm.kind === 'group') {
    const g = c.norm.groups;
    for (const [key, ch] of [['stem', c.stem], ['embedding', c.embedding], ...c.widths.map((w, i) => [`widths[${i}]`, w] as const)] as const) {
      if (ch % g !== 0) errs.push(`norm.groups: ${g} groups do not divide ${key} = ${ch} channels`);
    }
  }
  if (c.norm.kind === 'renorm' && !(c.norm.rmin > 0 && c.norm.rmin <= 1 && c.norm.rmax >= 1 && c.norm.dmax >= 0)) {
    errs.push(`norm: renorm clipping needs 0 < rmin ≤ 1 ≤ rmax and dmax ≥ 0`);
  }
  return errs;
}

export function checkHead(c: HeadConfig): string[] {
  const errs: string[] = [];
  if (!Number.isInteger(c.classes) || c.classes < 2) errs.push(`classes: expected an integer ≥ 2, got ${c.classes}`);
  const m = c.margin;
  if (m.kind !== 'softmax' && !(m.s > 0)) errs.push(`margin.s: expected a positive scale, got ${m.s}`);
  return errs;
}
