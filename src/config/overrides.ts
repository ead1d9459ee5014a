// `-S path.to.key=value` overrides from the command line (Hydra-like; `+path=value` adds a new key).
import { parse as parseYamlValue } from 'yaml';
import { ConfigError, didYouMean, type Loc } from './diagnostics.js';
import { parseDomain, type Domain } from '../sweep/grammar.js';
import type { SweepDim } from '../sweep/expand.js';
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
  if (parseDomainSafe(raw, text)) {
    throw fail(
      `'${raw}' is sweep syntax (several values), which only \`facepipe run\` takes`,
      `pass one value to look at one trial, or quote it to pass it as one string: -S ${keyText}="'${raw}'"`,
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

function parseDomainSafe(raw: string, text: string): Domain | undefined {
  try {
    return parseDomain(raw);
  } catch (e) {
    throw ConfigError.one({ loc: cliLoc(text), message: `bad sweep value '${raw}': ${(e as Error).message}`, fix: 'lists are a,b,c; ranges range(start, stop, step); choices choice(a, b); random intervals interval(low, high)' });
  }
}

/** One -S argument: a single override, or a sweep dimension (several values). */
export function parseSet(text: string): { override: Override } | { dim: SweepDim } {
  const eq = text.indexOf('=');
  const raw = eq > 0 ? text.slice(eq + 1) : '';
  const domain = eq > 0 ? parseDomainSafe(raw, text) : undefined;
  if (domain) return { dim: { key: text.slice(0, eq), domain } };
  return { override: parseOverride(text) };
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
