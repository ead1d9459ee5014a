// Learning-rate schedules, as a pure function of the step (so resuming needs no LR state).
export type LrSchedule =
  /** The original TF2 project's: `initial`, multiplied by `factor` at each boundary step. */
  | { kind: 'piecewise'; initial: number; boundaries: number[]; factor: number }
  /** insightface arcface_torch's: linear warm-up, then (1 − progress)^power decay to `end`. */
  | { kind: 'poly'; initial: number; power: number; warmupSteps: number; end: number }
  | { kind: 'constant'; initial: number };

/** The learning rate for the update made at `step` (0-based) of `total`. */
export function learningRate(s: LrSchedule, step: number, total: number): number {
  switch (s.kind) {
    case 'constant':
      return s.initial;
    case 'piecewise':
      return s.initial * s.factor ** s.boundaries.filter((b) => step >= b).length;
    case 'poly': {
      if (step < s.warmupSteps) return (s.initial * (step + 1)) / s.warmupSteps;
      const span = Math.max(1, total - s.warmupSteps);
      const progress = Math.min(1, (step - s.warmupSteps) / span);
      return s.end + (s.initial - s.end) * (1 - progress) ** s.power;
    }
  }
}
