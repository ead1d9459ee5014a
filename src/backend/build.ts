// The npm half of `facepipe setup`: a private npm project holding tfjs-node, and compiling its
// binding against the TensorFlow libraries laid out in its deps/ folder.
//
// Why a private project instead of the facepipe project's own node_modules: tfjs-node's install
// script fails without its (unreachable / outdated) libtensorflow download, and npm then silently
// deletes the optional dependency on every later `npm install` of the project. A package in a
// separate project under the cache dir is invisible to those installs.
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TFJS_NODE_VERSION, packageDirIn, type VariantInfo } from './paths.js';
import { describeFailure, run } from './run.js';

/**
 * The environment for the inner npm. When setup runs from an npm script (`npm test`), npm
 * exports its own settings as npm_config_*; the ones that change *what* or *where* to install
 * (e.g. --omit=optional, --global, the outer project's prefix) must not leak into the private
 * project. Registry, proxy, certificate and nodedir settings are kept on purpose.
 */
function npmEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const drop = /^npm_(?!config_)|^npm_config_(omit|include|global|prefix|local_prefix|only|production|dry_run|ignore_scripts|install_strategy|workspaces?|include_workspace_root|save.*|package_lock.*|build_from_source)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!drop.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function npm(dir: string, args: string[], log: (l: string) => void, timeoutMs: number, extraEnv: Record<string, string> = {}) {
  return run('npm', [...args, '--prefix', dir], {
    cwd: dir,
    env: npmEnv(extraEnv),
    replaceEnv: true,
    timeoutMs,
    onLine: (l) => log(`npm: ${l}`),
  });
}

/** Creates <dir>/package.json and installs tfjs-node there without running its install script
 *  (which would try to download libtensorflow 2.9.1 and fail). */
export async function installPackage(dir: string, info: VariantInfo, log: (l: string) => void): Promise<void> {
  const pkg = {
    name: `facepipe-native-${info.variant}`,
    version: '0.0.0',
    private: true,
    description: 'Private build of the TensorFlow.js native binding, made by `facepipe setup`. Safe to delete.',
    dependencies: { [info.npmPackage]: TFJS_NODE_VERSION },
    // npm >= 11.19 reviews dependency install scripts (and with strict-allow-scripts refuses
    // unreviewed ones): allow the binding build, skip core-js's banner script. Name-only, not
    // pkg@version: a pinned entry never matches when the lockfile omits "resolved" URLs
    // (omit-lockfile-registry-resolved), and the version is pinned in dependencies anyway.
    allowScripts: { [info.npmPackage]: true, 'core-js': false },
  };
  await writeFile(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  log(`npm install ${info.npmPackage}@${TFJS_NODE_VERSION} (scripts off)`);
  const timeoutMs = 15 * 60_000;
  const r = await npm(dir, ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--save-exact',
    `${info.npmPackage}@${TFJS_NODE_VERSION}`], log, timeoutMs);
  if (!r.ok) {
    throw new Error(`${describeFailure(`npm install ${info.npmPackage}`, r, timeoutMs)}\n` +
      'Check that npm can reach its registry (`npm ping`).');
  }
  if (!existsSync(join(packageDirIn(dir, info.variant), 'binding.gyp'))) {
    throw new Error(`npm install finished but ${info.npmPackage} has no binding.gyp in ${dir}`);
  }
}

/**
 * Compiles tfjs_binding.node with node-gyp through `npm rebuild`, which runs the package's own
 * install script: it sees deps/lib/<marker>, skips the download and calls node-pre-gyp.
 * npm (not a bare node-gyp) is used because npm supplies its bundled node-gyp and its `nodedir`
 * setting, so no Node headers have to be downloaded.
 * scripts/custom-binary.json (tfjs-node's documented hook for a custom libtensorflow) with a
 * "tf-lib" and no "addon" makes install.js pass --build-from-source: without it node-pre-gyp
 * first fetches Google's prebuilt addon, which is linked against libtensorflow 2.9 and would
 * not load with our libraries. Its URL is only informational: the library is already in deps/.
 */
export async function compileBinding(dir: string, info: VariantInfo, wheel: string, log: (l: string) => void): Promise<string> {
  const pkgDir = packageDirIn(dir, info.variant);
  await writeFile(join(pkgDir, 'scripts', 'custom-binary.json'),
    JSON.stringify({ 'tf-lib': pathToFileURL(wheel).href }, null, 2) + '\n');
  log(`compiling the ${info.npmPackage} binding with node-gyp (~10-20 s on 2 cores)`);
  const timeoutMs = 20 * 60_000;
  const r = await npm(dir, ['rebuild', info.npmPackage, '--foreground-scripts'], log, timeoutMs);
  const addon = await findAddon(pkgDir);
  if (!r.ok || !addon) {
    throw new Error(`${describeFailure(`building the ${info.npmPackage} binding`, r, timeoutMs)}\n` +
      'A C++ toolchain is needed: Debian/Ubuntu `sudo apt install build-essential python3`, ' +
      'macOS `xcode-select --install`.');
  }
  return addon;
}

/** lib/napi-v<N>/tfjs_binding.node, where node-pre-gyp puts (and later finds) the addon. */
async function findAddon(pkgDir: string): Promise<string | undefined> {
  const lib = join(pkgDir, 'lib');
  if (!existsSync(lib)) return undefined;
  for (const d of await readdir(lib)) {
    const p = join(lib, d, 'tfjs_binding.node');
    if (d.startsWith('napi-v') && existsSync(p)) return p;
  }
  return undefined;
}
