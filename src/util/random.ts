// Seeded randomness for everything that must be reproducible (shuffles, pair sampling, flips,
// sweeps): pure-rand's xoroshiro128+, whose state can be saved in a checkpoint and restored.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';

export class Rng {
  private constructor(private g: ReturnType<typeof xoroshiro128plus>) {}

  static seeded(seed: number): Rng {
    return new Rng(xoroshiro128plus(seed | 0));
  }

  static fromState(state: readonly number[]): Rng {
    return new Rng(xoroshiro128plusFromState(state));
  }

  /** Opaque, JSON-safe; `Rng.fromState(r.state())` continues the exact same sequence. */
  state(): number[] {
    return [...this.g.getState()];
  }

  /**
   * An independent stream for a worker or a sub-task: the child continues from here and this
   * generator jumps 2^64 draws ahead, so successive forks never overlap.
   */
  fork(): Rng {
    const child = new Rng(this.g.clone());
    this.g.jump();
    return child;
  }

  /** Integer in [from, to]. */
  int(from: number, to: number): number {
    return uniformInt(this.g, from, to);
  }

  /** Float in [0, 1). */
  float(): number {
    return uniformFloat64(this.g);
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}
