import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topoOrder } from '../../src/pipeline/graph.js';

test('topoOrder puts every stage after what it needs, keeping file order among ready ones', () => {
  assert.deepEqual(topoOrder({ report: ['eval'], download: [], eval: ['train'], train: ['convert'], convert: ['download'] }), {
    order: ['download', 'convert', 'train', 'eval', 'report'],
  });
  assert.deepEqual(topoOrder({ a: [], b: [], c: ['a', 'b'] }), { order: ['a', 'b', 'c'] });
});

test('topoOrder returns the cycle', () => {
  assert.deepEqual(topoOrder({ a: ['c'], b: ['a'], c: ['b'], d: [] }), { cycle: ['a', 'c', 'b', 'a'] });
  assert.deepEqual(topoOrder({ a: ['a'] }), { cycle: ['a', 'a'] });
});
