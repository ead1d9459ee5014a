// Which images go to which shard: pure, so determinism is easy to test. Shard s takes the s-th
// contiguous slice of the (optionally shuffled) key list, so the output depends only on the input,
// the parameters and the seed — never on how many workers ran.
import { Rng } from '../../src/util/random.js';

export interface ShardPlan {
  /** Image keys per shard, in write order. */
  shards: number[][];
}

export function planShards(keys: readonly number[], count: number, opts: { shuffle?: boolean; seed?: number; limit?: number }): ShardPlan {
  const order = [...keys];
  if (opts.shuffle) Rng.seeded(opts.seed ?? 0).shuffle(order);
  const chosen = opts.limit !== undefined ? order.slice(0, opts.limit) : order;
  const shards = Array.from({ length: count }, (_, s) => chosen.slice(Math.floor((s * chosen.length) / count), Math.floor(((s + 1) * chosen.length) / count)));
  return { shards };
}
