import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/util/random.js';

test('a seed gives the same sequence; a saved state continues it exactly', () => {
  const a = Rng.seeded(7);
  const b = Rng.seeded(7);
  const xs = Array.from({ length: 5 }, () => a.int(0, 1000));
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.int(0, 1000)));
  const saved = JSON.parse(JSON.stringify(a.state())) as number[];
  const next = Array.from({ length: 5 }, () => a.float());
  const resumed = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 5 }, () => resumed.float()), next);
  assert.notDeepEqual(Array.from({ length: 5 }, () => Rng.seeded(8).int(0, 1000)), xs);
});

test('shuffle is a seeded permutation; forks are independent streams', () => {
  const p = Rng.seeded(1).shuffle([...Array(100).keys()]);
  assert.deepEqual([...p].sort((x, y) => x - y), [...Array(100).keys()]);
  assert.deepEqual(Rng.seeded(1).shuffle([...Array(100).keys()]), p);
  assert.notDeepEqual(p, [...Array(100).keys()]);
  const root = Rng.seeded(3);
  const f1 = root.fork();
  const f2 = root.fork();
  const s1 = Array.from({ length: 20 }, () => f1.int(0, 2 ** 30));
  const s2 = Array.from({ length: 20 }, () => f2.int(0, 2 ** 30));
  assert.equal(s1.filter((x) => s2.includes(x)).length, 0);
});
