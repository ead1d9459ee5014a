// Progress counts as people read them: bytes in MB/GB, whole counts as they are, fractions short.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCount } from '../../src/runner/events.js';

test('progress counts: bytes in MB or GB, integers as they are, fractional progress to two decimals', () => {
  assert.equal(formatCount(1_500_000, 'B'), '1.5 MB');
  assert.equal(formatCount(2_340_000_000, 'B'), '2.34 GB');
  assert.equal(formatCount(600, 'steps'), '600');
  assert.equal(formatCount(0.05333333333333334, 'sets'), '0.05');
  assert.equal(formatCount(1 + 0.4, 'sets'), '1.40');
});
