// The tiny training pipeline the train-stage tests share: 8 synthetic identities at 32 px,
// converted to 2 shards, a narrow IR-ResNet-18 with checkpoints every 5 steps.
// `split` is the batch's lines (batch_size, accumulate, replicas); `extra` more `with:` lines.
export const tinyTrainPipeline = (steps: number, split: Record<string, number>, extra = '') => `stages:
  faces:
    uses: synth
    with: {identities: 8, images_per_identity: 6, holdout_identities: 3, pairs: 10, size: 32, difficulty: easy}
  shards:
    uses: convert
    with: {input: "\${{ stages.faces.out }}", shards: 2}
  train:
    uses: train
    with:
      data: \${{ stages.shards.out }}
      steps: ${steps}
${Object.entries(split).map(([k, v]) => `      ${k}: ${v}\n`).join('')}      model: {depth: 18, widths: [8, 16, 16, 32], stem: 8, input_size: 32, embedding: 32}
      head: {margin: {kind: arcface, s: 16, m: 0.3}}
      lr: {kind: constant, initial: 0.05}
      input: {shuffle_buffer: 16}
      checkpoint: {every: 5, keep: 2}
      log_every: 5
${extra}`;
