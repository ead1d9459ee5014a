// Every schema the project ships compiles under ajv's strict mode, and every stage kind has one.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadSchema } from '../../src/config/schemas.js';
import { listKinds } from '../../src/pipeline/kinds.js';
import { repoRoot } from '../helpers.js';

test('every schema compiles in strict mode', () => {
  const names = ['pipeline', 'config', ...readdirSync(path.join(repoRoot, 'schemas', 'stages')).map((f) => `stages/${f.replace(/\.schema\.json$/, '')}`)];
  for (const name of names) assert.doesNotThrow(() => loadSchema(name), `schemas/${name}.schema.json`);
});

test('every stage folder has a schema, and is listed as a kind', () => {
  const folders = readdirSync(path.join(repoRoot, 'stages'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  assert.deepEqual(listKinds(), folders);
});
