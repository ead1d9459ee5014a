// `-S path.to.key=value` overrides from the command line (Hydra-like; `+path=value` adds a new key).
import { parse as parseYamlValue } from 'yaml';
import { ConfigError, didYouMean, type Loc } from './diagnostics.js';
import { clearOrigins, isObject, pointer, type Json, type Sourced } from './sourced.js';

export interface Override {
  /** The argument as typed, for messages. */
  text: string;
  /** Key path segments, e.g. ['train', 'lr'] or ['stages', 'train', 'with', 'lr']. */
  path: string[];
  value: Json;
  /** `+key=value`: the key may be new. */
  add: boolean;
}

export function parseOverride(text: string): Override {
  const eq = text.indexOf('=');
  const fail = (message: string, fix: string) =>
    ConfigError.one({ loc: cliLoc(text), message, fix });
  if (eq <= 0) throw fail(`-S expects key=value, got '${text}'`, 'write e.g. -S train.lr=0.1');
  const add = text.startsWith('+');
  const keyText = text.slice(add ? 1 : 0, eq);
  const raw = text.slice(eq + 1);
  const path = keyText.split('.');
  if (path.some((s) => s === '')) throw fail(`bad key path '${keyText}'`, 'separate keys with single dots, e.g. train.lr');
  if (isSweep(raw)) {
    throw fail(
      `'${raw}' is sweep syntax (several values); sweeps are not supported by this version`,
      `quote the value to pass it as one string: -S ${keyText}="'${raw}'"`,
    );
  }
  let value: Json;
  try {
    // Parsed as YAML so values stay typed: 0.1 is a number, true a boolean, [1, 2] a list.
    value = (raw === '' ? '' : parseYamlValue(raw)) as Json;
  } catch (e) {
    throw fail(`cannot parse the value '${raw}': ${(e as Error).message.split('\n')[0]}`, 'quote strings that contain YAML syntax');
  }
  return { text, path, value, add };
}

// A top-level comma (outside brackets and quotes) or range()/choice() means "several values".
function isSweep(raw: string): boolean {
  if (/^\s*(range|choice|interval)\(/.test(raw)) return true;
  let depth = 0;
  let quote = '';
  for (const c of raw) {
    if (quote) quote = c === quote ? '' : quote;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) return true;
  }
  return false;
}

export function cliLoc(text: string): Loc {
  return { file: `command line: -S ${text}`, line: 0, col: 0 };
}

/** Applies `o` to `doc` at `base + o.path`, recording the command line as the value's origin. */
export function applyOverride(doc: Sourced, base: string, o: Override): void {
  let parent: Json = doc.value;
  let ptr = base;
  for (const seg of baseSegments(base)) parent = (parent as Record<string, Json>)[seg] as Json;
  for (let i = 0; i < o.path.length; i++) {
    const seg = o.path[i]!;
    const last = i === o.path.length - 1;
    if (Array.isArray(parent) && /^\d+$/.test(seg) && Number(seg) < parent.length) {
      if (last) parent[Number(seg)] = o.value;
      else parent = parent[Number(seg)] as Json;
    } else if (isObject(parent)) {
      if (!Object.hasOwn(parent, seg)) {
        if (!o.add) throw unknownKey(o, i, Object.keys(parent));
        parent[seg] = last ? o.value : {};
      } else if (last) parent[seg] = o.value;
      parent = parent[seg] as Json;
    } else {
      throw ConfigError.one({
        loc: cliLoc(o.text),
        message: `'${o.path.slice(0, i).join('.')}' is ${Array.isArray(parent) ? 'a list' : 'not a mapping'}, so it has no key '${seg}'`,
        fix: 'check the key path with `facepipe config <pipeline>`',
      });
    }
    ptr += pointer([seg]);
  }
  clearOrigins(doc.origins, ptr);
  doc.origins.values.set(ptr, cliLoc(o.text));
}

function baseSegments(base: string): string[] {
  return base === '' ? [] : base.slice(1).split('/');
}

function unknownKey(o: Override, i: number, keys: string[]): ConfigError {
  const seg = o.path[i]!;
  const guess = didYouMean(seg, keys);
  const at = o.path.slice(0, i).join('.') || 'the top level';
  return ConfigError.one({
    loc: cliLoc(o.text),
    message: `no key '${seg}' under ${at}` + (guess ? `; did you mean '${guess}'?` : ''),
    fix: guess
      ? `-S ${[...o.path.slice(0, i), guess, ...o.path.slice(i + 1)].join('.')}=…, or +${o.path.join('.')}=… to add a new key`
      : `existing keys there: ${keys.join(', ') || '(none)'}; use +${o.path.join('.')}=… to add a new key`,
  });
}
