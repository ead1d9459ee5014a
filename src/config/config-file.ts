// Hyperparameter files (configs/*.yaml): a tree of values, optionally `extends:` other files —
// a base plus small named overrides, as insightface's configs are.
import path from 'node:path';
import { ConfigError, type Loc } from './diagnostics.js';
import { loadYamlFile } from './yaml-file.js';
import { validateAt } from './schemas.js';
import { clearOrigins, emptyOrigins, merge, type JsonObject, type Sourced } from './sourced.js';

/** Loads `file` with everything it extends merged underneath it (without the `extends` key). */
export async function loadConfigChain(file: string, stack: string[], from?: Loc): Promise<Sourced> {
  if (stack.includes(file)) {
    throw ConfigError.one({
      loc: from,
      message: `config files extend each other in a cycle: ${[...stack, file].map((f) => path.basename(f)).join(' → ')}`,
      fix: 'remove one of the `extends` entries',
    });
  }
  let own: Sourced;
  try {
    own = await loadYamlFile(file);
  } catch (e) {
    if (e instanceof ConfigError && from) e.diagnostics.forEach((d) => (d.loc ??= from));
    throw e;
  }
  validateAt(own, '', 'config');
  const value = own.value as JsonObject;
  const ext = value.extends;
  const bases = ext === undefined ? [] : Array.isArray(ext) ? (ext as string[]) : [ext as string];
  let result: Sourced = { value: {}, origins: emptyOrigins() };
  for (const [i, b] of bases.entries()) {
    const loc = own.origins.values.get(Array.isArray(ext) ? `/extends/${i}` : '/extends');
    result = merge(result, await loadConfigChain(path.resolve(path.dirname(file), b), [...stack, file], loc));
  }
  const { extends: _ignored, ...rest } = value;
  const body: Sourced = { value: rest, origins: own.origins };
  clearOrigins(body.origins, '/extends');
  return merge(result, body);
}
