import path from 'node:path';

/**
 * Where the runner keeps its state, all under `<runsDir>/.facepipe` so that one `rm -rf` of that
 * directory resets everything and nothing else in `runsDir` is touched.
 *
 * - `store/<K[0..2]>/<K>/`: finished entries (`manifest.json`, `out/`, `stage.log`). The two-char
 *   shard keeps directories small, as DVC and git do.
 * - `tmp/`: attempts in progress. It sits on the same filesystem as `store/`, so that committing an
 *   attempt is a single atomic `rename`.
 * - `work/<K>/`: per-key work directories that survive failed attempts (checkpoints).
 * - `locks/<K>.lock`: one lock file per stage key.
 * - `trash/`: things to delete. Renaming into it is instant and atomic, deleting can happen later.
 */
export interface Layout {
  runsDir: string;
  root: string;
  store: string;
  tmp: string;
  work: string;
  locks: string;
  trash: string;
  statCache: string;
}

export function layout(runsDir: string): Layout {
  const abs = path.resolve(runsDir);
  const root = path.join(abs, '.facepipe');
  return {
    runsDir: abs,
    root,
    store: path.join(root, 'store'),
    tmp: path.join(root, 'tmp'),
    work: path.join(root, 'work'),
    locks: path.join(root, 'locks'),
    trash: path.join(root, 'trash'),
    statCache: path.join(root, 'stat-cache.json'),
  };
}

const KEY_RE = /^[0-9a-f]{64}$/;

/** Keys become path components: anything but 64 lowercase hex chars is a bug in the caller. */
export function checkKey(key: string): string {
  if (!KEY_RE.test(key)) {
    throw new Error(`invalid stage key ${JSON.stringify(key)}: expected 64 lowercase hex characters (a sha256)`);
  }
  return key;
}
