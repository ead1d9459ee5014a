// `facepipe report` on recorded runs (fixture run records): finding runs by folder, latest link or
// pipeline name, comparing them, and where it will and will not write.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { ReportData } from '../../src/report/model.js';
import { facepipe, tempDir, writeFiles } from '../helpers.js';
import { figures, linePaths, writeRun } from './fixtures.js';

const A = { lfw: { accuracy: 0.975, std: 0.006 }, agedb_30: { accuracy: 0.87, std: 0.012, separation: 0.4 } };
const C = { lfw: { accuracy: 0.9968, std: 0.002 }, agedb_30: { accuracy: 0.9648, std: 0.009, separation: 0.9 } };

test('two runs, named by pipeline and by folder, in one table and one set of charts; published numbers by pipeline name', async (t) => {
  const dir = await tempDir(t);
  const runs = path.join(dir, 'runs');
  await writeRun(runs, { pipeline: 'model-a', id: '2026-11-28T04-00-00-000Z-aaaaaa', sets: A, train: { speed: 0.7 } });
  const c = await writeRun(runs, { pipeline: 'model-c', id: '2026-11-28T05-00-00-000Z-cccccc', sets: C, train: { speed: 1.5, norm: 'renorm', batchSize: 384 }, links: true, evaluateStatus: 'cached' });
  const r = await facepipe(['report', 'model-a', path.relative(dir, c)], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /^report: report\/report\.html {2}\(also report\.md, report\.json, charts\/: 2 runs, 2 datasets, 8 charts, /);
  assert.match(r.stdout, /best: lfw 0\.99680\+-0\.00200 \(model-c\) · agedb_30 0\.96480\+-0\.00900 \(model-c\)/);

  const data = JSON.parse(await readFile(path.join(dir, 'report', 'report.json'), 'utf8')) as ReportData;
  assert.equal(data.title, 'model-a vs model-c');
  assert.deepEqual(data.runs.map((x) => [x.label, x.reference, x.source.runId]), [['model-a', 'model-a', '2026-11-28T04-00-00-000Z-aaaaaa'], ['model-c', 'model-c', '2026-11-28T05-00-00-000Z-cccccc']]);
  assert.ok(Math.abs(data.deltas['model-c']!.agedb_30! - (0.9648 - 0.9652)) < 1e-12);
  assert.equal(data.runs[1]!.evaluate.dir, path.join(c, 'outputs', 'evaluate'), 'the relative outputs/ link is preferred to the absolute outDir');
  assert.equal(data.runs[0]!.evaluate.dir, path.join(runs, '.store', '2026-11-28T04-00-00-000Z-aaaaaa', 'evaluate'));

  const md = await readFile(path.join(dir, 'report', 'report.md'), 'utf8');
  assert.match(md, /\| agedb_30 \| 0\.87000\+-0\.01200 \(-0\.0052\) \| \*\*0\.96480\+-0\.00900\*\* \(-0\.0004\) \| 0\.8752 \| 0\.9652 \|/);
  assert.match(md, /\| \*\*batch\*\* ≠ \| 96 \| 384 \|/);
  const html = await readFile(path.join(dir, 'report', 'report.html'), 'utf8');
  const charts = figures(html);
  assert.deepEqual([...charts.keys()], ['roc-lfw', 'roc-agedb_30', 'loss', 'inference-loss', 'regularization-loss', 'train-accuracy', 'lr', 'throughput']);
  for (const id of ['roc-lfw', 'roc-agedb_30', 'loss', 'lr']) assert.equal(linePaths(charts.get(id)!).length, 2, `${id}: a line per run`);
  assert.deepEqual((await readdir(path.join(dir, 'report', 'charts'))).sort(), [...charts.keys()].map((k) => `${k}.svg`).sort());

  // Again into the same folder: it holds a previous report, so it is replaced.
  const again = await facepipe(['report', 'runs/model-c/latest'], { cwd: dir });
  assert.equal(again.exitCode, 0, again.all);
  const one = JSON.parse(await readFile(path.join(dir, 'report', 'report.json'), 'utf8')) as ReportData;
  assert.deepEqual(one.runs.map((x) => x.label), ['model-c']);
  assert.equal(one.title, 'model-c — run 2026-11-28T05-00-00-000Z-cccccc');
  assert.deepEqual((await readdir(path.join(dir, 'report', 'charts'))).length, 8, 'the old charts went with the old report');
});

test('the same pipeline twice: labels by start time; the same run twice: reported once', async (t) => {
  const dir = await tempDir(t);
  const runs = path.join(dir, 'runs');
  const first = await writeRun(runs, { pipeline: 'orl', id: '2026-11-28T04-19-08-802Z-aaaaaa', sets: A, train: {} });
  await writeRun(runs, { pipeline: 'orl', id: '2026-11-28T04-25-00-000Z-bbbbbb', sets: C, train: {} });
  const r = await facepipe(['report', first, 'orl', 'runs/orl/latest', '--out', 'out/cmp'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  const data = JSON.parse(await readFile(path.join(dir, 'out', 'cmp', 'report.json'), 'utf8')) as ReportData;
  assert.deepEqual(data.runs.map((x) => x.label), ['orl 11-28 04:19:08', 'orl 11-28 04:25:00']);
  assert.equal(data.references.length, 0, 'no published model for a pipeline called orl');
});

test('refuses folders that are not a previous report, and says why', async (t) => {
  const dir = await tempDir(t);
  await writeRun(path.join(dir, 'runs'), { pipeline: 'p', id: 'r1', sets: A });
  await writeFiles(dir, { 'mine/notes.txt': 'keep me', 'fake/report.json': '{"generator": "someone else"}', 'fake/report.html': '' });
  const foreign = await facepipe(['report', 'p', '--out', 'mine'], { cwd: dir });
  assert.equal(foreign.exitCode, 2);
  assert.match(foreign.stderr, /--out mine holds files that are not part of a report \(notes\.txt\)/);
  assert.match(foreign.stderr, /fix: choose another --out, or remove that folder first/);
  assert.equal(await readFile(path.join(dir, 'mine', 'notes.txt'), 'utf8'), 'keep me');
  const fake = await facepipe(['report', 'p', '--out', 'fake'], { cwd: dir });
  assert.equal(fake.exitCode, 2);
  assert.match(fake.stderr, /--out fake is not empty and its report\.json was not written by facepipe report/);
});

test('runs that cannot be reported are clear errors', async (t) => {
  const dir = await tempDir(t);
  await writeRun(path.join(dir, 'runs'), { pipeline: 'model-b', id: 'r1', sets: A, evaluateStatus: 'failed' });
  await writeFiles(dir, { 'empty/x.txt': '' });
  const failed = await facepipe(['report', 'model-b'], { cwd: dir });
  assert.equal(failed.exitCode, 1);
  assert.match(failed.stderr, /facepipe report: model-b \(model-b\/r1\) has no finished evaluate stage \(evaluate: failed\): run the pipeline to the end, or pick another run \(facepipe runs model-b\)/);
  const typo = await facepipe(['report', 'model-c'], { cwd: dir });
  assert.equal(typo.exitCode, 1);
  assert.match(typo.stderr, /no run 'model-c': it is not a folder, and .*runs has no pipeline of that name; did you mean 'model-b'\?/);
  const notRun = await facepipe(['report', 'empty'], { cwd: dir });
  assert.match(notRun.stderr, /empty is a folder without a run\.json: give a run folder \(runs\/<pipeline>\/<run-id>\), runs\/<pipeline>\/latest, or a pipeline name/);
  const none = await facepipe(['report'], { cwd: dir });
  assert.equal(none.exitCode, 2);
  assert.match(none.stderr, /report needs at least one run/);
  assert.deepEqual((await readdir(dir)).sort(), ['empty', 'runs'], 'no report folder (or temporary one) left behind');
});
