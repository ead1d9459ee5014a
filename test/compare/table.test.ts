import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCsv, formatMarkdown, formatText } from '../../src/compare/format.js';
import { compareRuns } from '../../src/compare/table.js';
import type { RunRecord } from '../../src/runner/run-record.js';

function run(id: string, config: object, acc: number, loss: number, trainParams: object = {}): RunRecord {
  const components = (params: object) => ({ format: 1 as const, kind: 'x', kindVersion: '1', params: params as never, upstream: {}, inputs: {} });
  return {
    format: 1, id, pipeline: 'p', file: 'p.yaml', argv: [], startedAt: '', status: 'succeeded', config, inputs: { filesHashed: 0, bytesHashed: 0, cacheHits: 0 }, environment: {},
    stages: {
      train: { kind: 'train', key: 'k', components: components(trainParams), status: 'ran', reasons: [], metrics: { loss, images_per_second: 9 } },
      evaluate: { kind: 'evaluate', key: 'k', components: components({}), status: 'ran', reasons: [], metrics: { lfw_accuracy: acc, lfw_std: 0.01 } },
      doctor: { kind: 'doctor', key: 'k', components: components({}), status: 'cached', reasons: [], metrics: { matmul_gflops: 100 + acc } },
    },
  };
}

test('only changed parameters are shown; stage values derived from config are not; best is marked', () => {
  const records = [
    run('r1', { lr: 0.1, m: 0.5, depth: 50 }, 0.95, 2.0, { cmd: 'lr=0.1' }),
    run('r2', { lr: 0.05, m: 0.5, depth: 50 }, 0.97, 1.5, { cmd: 'lr=0.05' }),
    run('r3', { lr: 0.01, m: 0.5, depth: 50 }, 0.96, 1.8, { cmd: 'lr=0.01' }),
  ];
  const c = compareRuns(records);
  assert.deepEqual(c.params, ['lr']);
  assert.deepEqual(c.metrics, ['evaluate.lfw_accuracy', 'train.loss']);
  assert.equal(c.sortBy, 'evaluate.lfw_accuracy');
  assert.deepEqual(c.rows.map((r) => r.params.lr), [0.05, 0.01, 0.1], 'sorted by accuracy, best first');
  assert.equal(c.lowerIsBetter['train.loss'], true);
  const text = formatText(c, false);
  assert.match(text, /0\.97 \*/);
  assert.match(text, /1\.5 \*/);
  assert.match(formatMarkdown(c), /\| r2 \| 0\.05 \| \*\*0\.97\*\* \| \*\*1\.5\*\* \|/);
  assert.equal(formatCsv(c).split('\n')[0], 'run,runs,lr,evaluate.lfw_accuracy,train.loss');
  assert.deepEqual(compareRuns(records, { sort: 'loss' }).rows.map((r) => r.params.lr), [0.05, 0.01, 0.1]);
  assert.deepEqual(compareRuns(records, { metrics: ['images'] }).metrics, ['train.images_per_second']);
});

test('seed replicates are grouped into mean ± population std per configuration', () => {
  const records = [
    run('a1', { lr: 0.1, seed: 1 }, 0.9, 1, {}),
    run('a2', { lr: 0.1, seed: 2 }, 0.8, 1, {}),
    run('b1', { lr: 0.2, seed: 1 }, 0.7, 1, {}),
    run('b2', { lr: 0.2, seed: 2 }, 0.7, 1, {}),
  ];
  const c = compareRuns(records);
  assert.deepEqual(c.replicates, ['seed']);
  assert.deepEqual(c.params, ['lr']);
  assert.equal(c.rows.length, 2);
  assert.ok(Math.abs(c.rows[0]!.metrics['evaluate.lfw_accuracy']! - 0.85) < 1e-12);
  assert.ok(Math.abs(c.rows[0]!.std!['evaluate.lfw_accuracy']! - 0.05) < 1e-12);
  assert.deepEqual(c.rows[0]!.runs, ['p/a1', 'p/a2']);
  assert.match(formatText(c, false), /0\.85 ± 0\.05 \*/);
  assert.equal(compareRuns(records, { groupSeeds: false }).rows.length, 4);
});
