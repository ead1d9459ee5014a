// Rendering reports from fixture outputs: the numbers in report.json / report.md / report.html,
// the differences to the published models, self-containment, and that every chart has lines.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readEvaluate, readTrain, ReportError } from '../../src/report/collect.js';
import { accuracyPm, batch, delta, valAtFar } from '../../src/report/format.js';
import type { ReportData, ReportRun } from '../../src/report/model.js';
import { labelRuns } from '../../src/report/runs.js';
import { writeReport } from '../../src/report/write.js';
import { tempDir, writeFiles } from '../helpers.js';
import { figures, linePaths, writeEvaluate, writeTrain, type FakeTrain } from './fixtures.js';

const SETS = { lfw: { accuracy: 0.995, std: 0.003 }, cfp_ff: { accuracy: 0.99614, std: 0.0031 }, cfp_fp: { accuracy: 0.9301, std: 0.0142, separation: 0.5 }, agedb_30: { accuracy: 0.96, std: 0.0089, separation: 0.7 } };
const TRAINING_CHARTS = ['loss', 'inference-loss', 'regularization-loss', 'train-accuracy', 'lr', 'throughput'];

async function fixtureRun(dir: string, name: string, sets: Parameters<typeof writeEvaluate>[1], train: FakeTrain | false = {}): Promise<Omit<ReportRun, 'label'>> {
  await writeEvaluate(path.join(dir, name, 'evaluate'), sets);
  if (train) await writeTrain(path.join(dir, name, 'train'), { norm: 'renorm', ...train });
  return { source: {}, evaluate: await readEvaluate(path.join(dir, name, 'evaluate')), ...(train ? { train: await readTrain(path.join(dir, name, 'train')) } : {}) };
}

test('insightface number formats', () => {
  assert.equal(accuracyPm(0.9965, 0.00302), '0.99650+-0.00302');
  assert.equal(delta(0.995 - 0.9962), '-0.0012');
  assert.equal(delta(0.00004), '+0.0000');
  assert.equal(valAtFar({ pairs: 1, accuracy: 1, std: 0, xnorm: 1, val: 0.81, val_std: 0.02, far: 0.001 }), '0.81000+-0.02000 @ FAR=0.00100');
  assert.equal(valAtFar({ pairs: 1, accuracy: 1, std: 0, xnorm: 1, val: null, val_std: null, far: null }), '—');
});

test('one run with model-b beside it: table values, differences, config, and self-contained HTML with every chart drawn', async (t) => {
  const dir = await tempDir(t);
  const run = await fixtureRun(dir, 'a', SETS);
  const out = path.join(dir, 'out');
  const { data } = await writeReport(out, { title: 'Model B, re-trained', runs: [{ ...run, label: 'this run' }], reference: 'model-b' });

  const json = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as ReportData;
  assert.deepEqual(json, JSON.parse(JSON.stringify(data)), 'report.json is the data the report shows');
  assert.equal(json.generator, 'facepipe report');
  assert.deepEqual(json.datasets, ['lfw', 'cfp_ff', 'cfp_fp', 'agedb_30']);
  assert.equal(json.runs[0]!.evaluate.datasets.cfp_fp!.accuracy, 0.9301);
  const d = json.deltas['this run']!;
  assert.ok(Math.abs(d.lfw! - (0.995 - 0.9962)) < 1e-12);
  assert.ok(Math.abs(d.cfp_fp! - (0.9301 - 0.9329)) < 1e-12);
  assert.ok(Math.abs(d.agedb_30! - (0.96 - 0.9547)) < 1e-12);
  assert.deepEqual(json.references.map((r) => r.name), ['model-b']);

  const md = await readFile(path.join(out, 'report.md'), 'utf8');
  assert.match(md, /^# Model B, re-trained\n/);
  assert.match(md, /\*\*Best accuracy:\*\* lfw 0\.99500\+-0\.00300 · cfp_ff 0\.99614\+-0\.00310 · cfp_fp 0\.93010\+-0\.01420 · agedb_30 0\.96000\+-0\.00890/);
  assert.match(md, /\| dbname \| accuracy \| XNorm \| VAL@FAR \| pairs \| model-b \(published\) \| difference \|/);
  assert.match(md, /\| lfw \| \*\*0\.99500\+-0\.00300\*\* \| 22\.495000 \| 0\.94500\+-0\.01230 @ FAR=0\.00100 \| 6000 \| 0\.9962 \| -0\.0012 \|/);
  assert.match(md, /\| cfp_fp \| \*\*0\.93010\+-0\.01420\*\* \| .* \| 0\.9329 \| -0\.0028 \|/);
  assert.match(md, /\| agedb_30 \| \*\*0\.96000\+-0\.00890\*\* \| .* \| 0\.9547 \| \+0\.0053 \|/);
  assert.match(md, /\| backbone \| IR-ResNet-50, widths 64\/128\/256\/512, stem 64 \|/);
  assert.match(md, /\| normalisation \| batch renorm \(rmax 3, rmin 0\.3333, dmax 5\) \|/);
  assert.match(md, /\| head \| ArcFace s=64, m=0\.5, 10572 classes \|/);
  assert.match(md, /\| learning rate \| piecewise 0\.1, ×0\.1 at steps 1000, 1600 \|/);
  assert.match(md, /\| TensorFlow \| 2\.21\.0 \|/);
  assert.match(md, /!\[ROC — cfp_fp\]\(charts\/roc-cfp_fp\.svg\)/);

  const html = await readFile(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /<title>Model B, re-trained<\/title>/);
  assert.doesNotMatch(html, /https?:/i, 'no URL at all');
  assert.doesNotMatch(html, /\bsrc\s*=/i);
  assert.doesNotMatch(html, /<script|<link|<iframe|<img|@import|@font-face/i);
  assert.doesNotMatch(html, /url\((?!#)/, 'url() only for the SVGs’ own clip paths');
  assert.match(html, /<td class="num"><strong>0\.99500\+-0\.00300<\/strong><\/td>/);
  assert.match(html, /<td class="num worse">-0\.0012<\/td>/);
  assert.match(html, /<td class="num better">\+0\.0053<\/td>/);

  const charts = figures(html);
  assert.deepEqual([...charts.keys()], ['roc-lfw', 'roc-cfp_ff', 'roc-cfp_fp', 'roc-agedb_30', ...TRAINING_CHARTS]);
  for (const [id, svg] of charts) {
    assert.ok(linePaths(svg).length >= 1, `${id} has a drawn line`);
    assert.ok(linePaths(svg).every((p) => p.split('L').length > 5), `${id}: its lines have points`);
    assert.doesNotMatch(svg, /xmlns/);
    assert.ok([...svg.matchAll(/\bid="([^"]+)"/g)].every((m) => m[1]!.startsWith(`${id}-`)), `${id}: ids are the chart's own`);
  }
  assert.match(charts.get('roc-lfw')!, />ROC — lfw<\/text>/);
  assert.match(charts.get('roc-lfw')!, />true positive rate<\/text>/);
  assert.match(charts.get('roc-lfw')!, />false positive rate \(log scale\)<\/text>/);
  assert.match(charts.get('roc-lfw')!, />this run<\/text>/, 'a legend');
  assert.match(charts.get('train-accuracy')!, />cosine<\/text>/, 'both accuracies, told apart in the legend');
  assert.equal(linePaths(charts.get('train-accuracy')!).length, 2);
  const standalone = await readFile(path.join(out, 'charts', 'loss.svg'), 'utf8');
  assert.match(standalone, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, 'chart files keep their namespace to work as images');
});

test('several runs: one column and one line per run, the best bolded, each against its own published model', async (t) => {
  const dir = await tempDir(t);
  const a = await fixtureRun(dir, 'a', { lfw: { accuracy: 0.97, std: 0.004 }, cfp_fp: { accuracy: 0.88, std: 0.01, separation: 0.4 } });
  const b = await fixtureRun(dir, 'b', { lfw: { accuracy: 0.9961, std: 0.002 }, cfp_fp: { accuracy: 0.935, std: 0.01, separation: 0.8 } }, { batchSize: 128, speed: 2 });
  const out = path.join(dir, 'out');
  const runs = [{ ...a, label: 'model-a', reference: 'model-a' as const }, { ...b, label: 'model-b', reference: 'model-b' as const }];
  const { data } = await writeReport(out, { title: 'A vs B', runs });
  assert.deepEqual(data.best.map((x) => [x.dataset, x.run]), [['lfw', 'model-b'], ['cfp_fp', 'model-b']]);
  assert.ok(Math.abs(data.deltas['model-a']!.lfw! - (0.97 - 0.9772)) < 1e-12, 'A against A');
  assert.ok(Math.abs(data.deltas['model-b']!.lfw! - (0.9961 - 0.9962)) < 1e-12, 'B against B');
  const md = await readFile(path.join(out, 'report.md'), 'utf8');
  assert.match(md, /\| dbname \| model-a \| model-b \| model-a \(published\) \| model-b \(published\) \|/);
  assert.match(md, /\| lfw \| 0\.97000\+-0\.00400 \(-0\.0072\) \| \*\*0\.99610\+-0\.00200\*\* \(-0\.0001\) \| 0\.9772 \| 0\.9962 \|/);
  assert.match(md, /\| cfp_ff \| — \| — \| 0\.9793 \| 0\.9964 \|/, 'published sets we did not evaluate still show');
  const html = await readFile(path.join(out, 'report.html'), 'utf8');
  const charts = figures(html);
  assert.equal(linePaths(charts.get('roc-lfw')!).length, 2, 'one ROC line per run');
  assert.equal(linePaths(charts.get('loss')!).length, 2, 'one loss line per run');
  assert.equal(linePaths(charts.get('train-accuracy')!).length, 4, 'margin and cosine, per run');
  assert.match(html, /<tr class="marked"><td class="muted">batch<\/td><td>96<\/td><td>128<\/td><\/tr>/, 'the setting that differs is marked');
  assert.match(html, /<tr><td class="muted">backbone<\/td>/, 'one that does not, is not');
});

test('a long training run is thinned to at most 500 points per line', async (t) => {
  const dir = await tempDir(t);
  await writeTrain(path.join(dir, 't'), { steps: 400_000 });
  const train = await readTrain(path.join(dir, 't'));
  assert.equal(train.steps.length, 20_000);
  await writeEvaluate(path.join(dir, 'e'), { lfw: { accuracy: 0.99, std: 0.01 } });
  const out = path.join(dir, 'out');
  await writeReport(out, { title: 'long', runs: [{ label: 'r', source: {}, evaluate: await readEvaluate(path.join(dir, 'e')), train }] });
  const loss = figures(await readFile(path.join(out, 'report.html'), 'utf8')).get('loss')!;
  const points = linePaths(loss)[0]!.split(/[ML]/).filter(Boolean).length;
  assert.ok(points >= 400 && points <= 501, `${points} points`);
  assert.match(loss, />400k<\/text>/, 'long runs get SI step labels');
});

test('a run without training and a set without ROC: only what exists is drawn', async (t) => {
  const dir = await tempDir(t);
  const run = await fixtureRun(dir, 'a', { lfw: { accuracy: 0.99, std: 0.01 }, calfw: { accuracy: 0.9, std: 0.02, noRoc: true } }, false);
  const out = path.join(dir, 'out');
  await writeReport(out, { title: 'eval only', runs: [{ ...run, label: 'm' }] });
  const html = await readFile(path.join(out, 'report.html'), 'utf8');
  assert.deepEqual([...figures(html).keys()], ['roc-lfw']);
  assert.doesNotMatch(html, /Training curves|Configuration|Backend and versions/);
  assert.match(html, /evaluation only/);
});

test('unreadable inputs are errors that name the file and what to give instead', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(readEvaluate(path.join(dir, 'nope')), (e: Error) => e instanceof ReportError && /nope\/metrics\.json is missing: give the output folder of an evaluate stage/.test(e.message));
  await writeFiles(dir, { 'e/metrics.json': '{"datasets": {"lfw": {"pairs": 10, "accuracy": "high"}}}' });
  await assert.rejects(readEvaluate(path.join(dir, 'e')), /datasets\.lfw\.accuracy should be a number, got "high"/);
  await writeTrain(path.join(dir, 't'));
  await writeFiles(dir, { 't/metrics.jsonl': '{"step": 1, "loss": 2}\n{"step": 2, "lo' });
  await assert.rejects(readTrain(path.join(dir, 't')), /t\/metrics\.jsonl:2 is not a JSON line/);
});

test('labels: pipeline names, made unique by start time, then by the whole run id', () => {
  const e = (pipeline: string, runId: string, stage = 'evaluate') => ({ source: { pipeline, runId, runDir: `/r/${pipeline}/${runId}`, evaluateStage: stage }, evaluate: { dir: '', size: null, channels: null, datasets: {}, roc: {} } });
  const run = (pipeline: string, runId: string) => e(pipeline, runId);
  const labels = labelRuns([run('model-a', '2026-11-28T04-19-08-802Z-aaaaaa'), run('orl', '2026-11-28T04-19-08-802Z-bbbbbb'), run('orl', '2026-11-28T05-00-00-000Z-cccccc'), run('sweep', '2026-11-28T06-00-00-000Z-dddddd'), run('sweep', '2026-11-28T06-00-00-000Z-eeeeee')]).map((r) => r.label);
  assert.deepEqual(labels, ['model-a', 'orl 11-28 04:19:08', 'orl 11-28 05:00:00', 'sweep 2026-11-28T06-00-00-000Z-dddddd', 'sweep 2026-11-28T06-00-00-000Z-eeeeee']);
  const twoEvals = labelRuns([e('p', 'r1', 'eval_lfw'), { ...e('p', 'r1', 'eval_agedb'), source: { ...e('p', 'r1', 'eval_lfw').source, evaluateStage: 'eval_agedb' } }]).map((r) => r.label);
  assert.deepEqual(twoEvals, ['p/eval_lfw', 'p/eval_agedb'], 'several evaluate stages of one run are told apart by stage');
});

test('the batch row says how the global batch is made: replicas, micro-batches, accumulation', () => {
  assert.equal(batch(96, 1, 1), '96');
  assert.equal(batch(128, 1, 3), '128 × 3 accumulated = 384');
  assert.equal(batch(128, 3, 1), '3 replicas × 128 = 384');
  assert.equal(batch(64, 2, 3), '2 replicas × 64 × 3 accumulated = 384');
});
