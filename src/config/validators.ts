// Compiled schema validators, cached as standalone code (ajv's "standalone" output) in the
// facepipe cache dir: compiling the pipeline and stage schemas took ~100 ms of every command's
// start (a third of a no-op re-run); loading the cached code takes ~2 ms. The cache key is the
// schema's text, ajv's version and the options, so an edited schema is simply compiled again.
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Ajv2020 as AjvClass, ValidateFunction } from 'ajv/dist/2020.js';
import { cacheDir } from '../backend/paths.js';

const require = createRequire(import.meta.url);
const OPTIONS = { allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true, code: { source: true } } as const;
const AJV_VERSION = (require('ajv/package.json') as { version: string }).version;

let ajv: AjvClass | undefined;

/** The compiler, loaded only on a cache miss. */
function compiler(): AjvClass {
  if (!ajv) {
    const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
    // strictRequired off: `oneOf: [{required: [url]}, {required: [path]}]` is the plain way to say "exactly one of".
    ajv = new Ajv2020(OPTIONS);
    // `inputPath: true` marks a string parameter naming a file or folder whose *content* belongs in
    // the stage's cache key; the runner collects these (see inputPaths()).
    ajv.addKeyword({ keyword: 'inputPath', schemaType: 'boolean' });
  }
  return ajv;
}

export function compileSchema(name: string, text: string): ValidateFunction {
  const hash = createHash('sha256').update(`${AJV_VERSION}\n${JSON.stringify(OPTIONS)}\n${text}`).digest('hex').slice(0, 16);
  const file = path.join(cacheDir(), 'validators', `${name.replace(/[^A-Za-z0-9_-]/g, '_')}-${hash}.cjs`);
  try {
    return require(file) as ValidateFunction;
  } catch {
    // not cached yet (or unreadable): compile below
  }
  const validate = compiler().compile(JSON.parse(text) as object);
  try {
    const { default: standaloneCode } = require('ajv/dist/standalone/index.js') as { default: (a: AjvClass, v: ValidateFunction) => string };
    // The generated code requires ajv's small runtime helpers by package name: make those paths
    // absolute so the cached file works from the cache dir.
    const code = standaloneCode(compiler(), validate).replace(/require\("(ajv\/dist\/runtime\/[^"]+)"\)/g, (_, m: string) => `require(${JSON.stringify(require.resolve(m))})`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(`${file}.${process.pid}.tmp`, code);
    renameSync(`${file}.${process.pid}.tmp`, file);
  } catch {
    // A read-only or full cache dir only costs the compile next time.
  }
  return validate;
}
