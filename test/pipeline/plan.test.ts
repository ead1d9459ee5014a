import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, hashComponents, type KeyComponents, type StageKey } from '../../src/pipeline/key.js';
import { plan, type Lookup } from '../../src/pipeline/plan.js';

const comp = (params: object, upstream: Record<string, string> = {}, inputs: Record<string, string> = {}): KeyComponents => ({
  format: 1,
  kind: 'command',
  kindVersion: '1',
  params: params as KeyComponents['params'],
  upstream,
  inputs,
});
const key = (c: KeyComponents): StageKey => ({ key: hashComponents(c), components: c });

test('canonical JSON ignores key order, so equal parameters give equal keys', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } }), '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
  assert.equal(hashComponents(comp({ a: 1, b: 2 })), hashComponents(comp({ b: 2, a: 1 })));
  assert.notEqual(hashComponents(comp({ a: 1 })), hashComponents(comp({ a: 1.5 })));
  assert.notEqual(hashComponents(comp({ a: 1 }, { up: 'k1' })), hashComponents(comp({ a: 1 }, { up: 'k2' })));
});

test('plan: hits are cached; misses say what changed since the last run', () => {
  const before = { a: comp({ run: 'x' }), b: comp({ lr: 0.1, run: 'y' }, { a: 'ka' }, { 'data.csv': 'sha256:' + '1'.repeat(64) }) };
  const now = { a: comp({ run: 'x' }), b: comp({ lr: 0.2, run: 'y' }, { a: 'ka' }, { 'data.csv': 'sha256:' + '2'.repeat(64) }) };
  const lookups: Record<string, Lookup> = { a: { status: 'hit' }, b: { status: 'miss' } };
  const entries = plan({
    order: ['a', 'b'],
    kinds: { a: 'command', b: 'command' },
    keys: { a: key(now.a), b: key(now.b) },
    lookups,
    force: new Set(),
    previous: before,
  });
  assert.equal(entries[0]!.action, 'cached');
  assert.equal(entries[1]!.action, 'run');
  assert.deepEqual(entries[1]!.reasons, ['parameter with.lr: 0.1 → 0.2', 'input data.csv changed (content digest 111111111111 → 222222222222)']);
});

test('plan: --force, corrupt entries, first runs and vanished results each give their reason', () => {
  const c = comp({ run: 'x' });
  const keys = { a: key(c), b: key(c), c: key(c), d: key(c) };
  const lookups: Record<string, Lookup> = { a: { status: 'hit' }, b: { status: 'corrupt', reason: 'out/x: size 3, manifest says 4' }, c: { status: 'miss' }, d: { status: 'miss' } };
  const entries = plan({ order: ['a', 'b', 'c', 'd'], kinds: { a: 'command', b: 'command', c: 'command', d: 'command' }, keys, lookups, force: new Set(['a']), previous: { d: c } });
  assert.deepEqual(entries.map((e) => [e.action, e.reasons[0]]), [
    ['run', 'forced (--force)'],
    ['run', 'its stored result was corrupt and was moved to the trash: out/x: size 3, manifest says 4'],
    ['run', 'no stored result for this key (first run of this stage)'],
    ['run', 'no stored result for this key (the last run did not finish it, or the store was cleaned)'],
  ]);
});
