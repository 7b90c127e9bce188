// `npm run package` (after `npm run build`): iscsid and iscsiadm as Node single executable applications for this
// platform, in installer/build/<platform>-<arch>/ (git-ignored), each with the native addons it loads beside it:
//
//   iscsid  iscsiadm      the repo's Node 24 binary (npm package `node`) with one bundled CommonJS script injected
//   iscsi-native.node     native/ (peer credentials, flock, the HBA connection), loaded by native/index.js
//   crc32.node            @node-rs/crc32's binding (CRC32C digests), loaded by core/src/pdu/digest.ts
//   keyring.node          @napi-rs/keyring's binding (macOS only: the Keychain), loaded by core/src/daemon/secrets.ts
//
// How (docs: Node's single-executable-applications): esbuild bundles each entry; `node --experimental-sea-config`
// writes the blob (with a V8 code cache, so start-up does not compile the bundle); postject injects it into a copy of
// the binary behind the sentinel fuse. On macOS the copy is unsigned before the injection and ad-hoc signed after
// (installer/macos signs it for real). No step needs node_modules at run time: core/src/single-executable.ts says
// where each thing is found instead.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const target = `${process.platform}-${process.arch}`;
const out = path.join(repo, 'installer', 'build', target);
const work = path.join(out, '.work');
const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** The Node binary the repo brings (devDependency `node`); the blob must be made by the same version it runs in. */
function nodeBinary() {
  const binary = path.join(path.dirname(require.resolve('node/package.json')), 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  if (version !== process.version) throw new Error(`package: run through npm (npm run package): this is Node ${process.version}, the repo's binary is ${version}`);
  return binary;
}

function need(file, hint) {
  if (!existsSync(file)) throw new Error(`package: ${path.relative(repo, file)} is missing: ${hint}`);
  return file;
}

/** A napi-rs package's binding for this platform: the `.node` file of its `<name>-<platform>-<arch>[-gnu]` package. */
function napiBinding(name) {
  const libc = process.platform === 'linux' ? (process.report.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl') : '';
  const dir = path.dirname(require.resolve(`${name}-${process.platform}-${process.arch}${libc}/package.json`));
  const file = readdirSync(dir).find((f) => f.endsWith('.node'));
  if (file === undefined) throw new Error(`package: no .node file in ${dir}`);
  return path.join(dir, file);
}

/**
 * ink's layout engine (yoga-layout) instantiates its WebAssembly with a top-level await, which a CommonJS bundle
 * cannot hold. Its Emscripten loader accepts an `instantiateWasm` hook: instantiating synchronously there (Node
 * compiles any size of module synchronously) makes the whole load synchronous, so the module needs no await.
 */
const yogaWithoutTopLevelAwait = {
  name: 'yoga-without-top-level-await',
  setup(b) {
    b.onLoad({ filter: /[\\/]yoga-layout[\\/]dist[\\/]src[\\/]index\.js$/ }, (args) => {
      const glue = path.join(path.dirname(args.path), '../binaries/yoga-wasm-base64-esm.js');
      const wasm = /data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)/.exec(readFileSync(glue, 'utf8'));
      if (wasm === null) throw new Error('package: yoga-layout changed: no base64 WebAssembly in its loader');
      return {
        resolveDir: path.dirname(args.path),
        contents: `import loadYoga from '../binaries/yoga-wasm-base64-esm.js';
import wrapAssembly from './wrapAssembly.js';
const bytes = Buffer.from(${JSON.stringify(wasm[1])}, 'base64');
const module = {
  instantiateWasm(imports, done) {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
    done(instance);
    return instance.exports;
  },
};
loadYoga(module);
if (typeof module._malloc !== 'function') throw new Error('yoga-layout did not load synchronously');
const Yoga = wrapAssembly(module);
export default Yoga;
export * from './generated/YGEnums.js';
`,
      };
    });
  },
};

/**
 * ink's reconciler connects to React DevTools under DEV=true, with top-level awaits a CommonJS bundle cannot hold:
 * the single executable has no DevTools, so both DEV branches go (the build fails if ink changes them).
 */
const inkWithoutDevTools = {
  name: 'ink-without-devtools',
  setup(b) {
    b.onLoad({ filter: /[\\/]ink[\\/]build[\\/]reconciler\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const dev = "process.env['DEV'] === 'true'";
      if (source.split(dev).length !== 3) throw new Error('package: ink changed: expected two DEV branches in build/reconciler.js');
      return { contents: source.replaceAll(dev, 'false'), loader: 'js' };
    });
  },
};

/** Where Node would find package `name` from `from`: the first node_modules/<name> up the tree (exports aside). */
function packageRoot(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'node_modules', name, 'package.json'))) return path.join(dir, 'node_modules', name);
    if (dir === path.dirname(dir)) throw new Error(`package: ${name} is not installed (npm install)`);
  }
}

/**
 * `sea:iscsiadm-plugins`: the CLI and the oclif plugins it lists (`oclif.plugins`: autocomplete), each as its
 * package.json, its manifest, and each command of the manifest as a function that loads its module from the bundle.
 */
function iscsiadmPlugins() {
  const cli = path.join(repo, 'cli');
  const roots = [cli, ...JSON.parse(readFileSync(path.join(cli, 'package.json'), 'utf8')).oclif.plugins.map((name) => packageRoot(name, cli))];
  return {
    name: 'iscsiadm-plugins',
    setup(b) {
      b.onResolve({ filter: /^sea:iscsiadm-plugins$/ }, () => ({ path: 'iscsiadm-plugins', namespace: 'sea' }));
      b.onLoad({ filter: /.*/, namespace: 'sea' }, () => {
        const imports = [];
        const plugins = roots.map((root, i) => {
          const manifestFile = need(path.join(root, 'oclif.manifest.json'), 'run npm run build');
          imports.push(`import pjson${i} from ${JSON.stringify(path.join(root, 'package.json'))};`, `import manifest${i} from ${JSON.stringify(manifestFile)};`);
          const commands = Object.entries(JSON.parse(readFileSync(manifestFile, 'utf8')).commands).map(([id, command]) => {
            const file = need(path.join(root, ...command.relativePath), 'run npm run build');
            return `    ${JSON.stringify(id)}: () => import(${JSON.stringify(file)}),`;
          });
          return `  { pjson: pjson${i}, manifest: manifest${i}, commands: {\n${commands.join('\n')}\n  } },`;
        });
        return { resolveDir: repo, contents: `${imports.join('\n')}\nexport default [\n${plugins.join('\n')}\n];\n` };
      });
    },
  };
}

/**
 * Files that read `import.meta.url` (undefined in a CommonJS bundle) only where they are not a single executable
 * (core/src/single-executable.ts). Any other file that reads it would break in the binary: the build fails instead.
 */
const IMPORT_META_REVIEWED = [
  'native/index.js',
  'core/dist/pdu/digest.js',
  'core/dist/daemon/main.js',
  'core/dist/daemon/hba-attachment.js',
  // unused in the bundle: oclif's module loader and its ESM helpers, reached only for plugins on disk
];

async function bundle(name, entry, plugins) {
  const file = path.join(work, `${name}.cjs`);
  const result = await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // Names stay: oclif and the error hierarchy print class names.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    // Reached only outside a single executable (a checkout), where node_modules has them.
    external: ['@node-rs/crc32', '@napi-rs/keyring', 'react-devtools-core'],
    plugins,
    logLevel: 'silent',
    metafile: true,
  });
  const unreviewed = result.warnings.filter((w) => w.id === 'empty-import-meta' && !IMPORT_META_REVIEWED.some((f) => w.location?.file.endsWith(f)));
  const fromDependencies = unreviewed.filter((w) => w.location?.file.includes('node_modules'));
  for (const w of unreviewed.filter((x) => !fromDependencies.includes(x))) console.error(`package: ${w.location?.file}:${w.location?.line}: import.meta in a bundle (${w.text})`);
  if (unreviewed.length > fromDependencies.length) throw new Error(`package: ${name}: a file reads import.meta outside core/src/single-executable.ts's seams`);
  for (const w of fromDependencies) console.warn(`package: ${name}: note: ${w.location?.file}:${w.location?.line} reads import.meta (undefined in the binary)`);
  return file;
}

async function executable(name, main, assets) {
  const blob = path.join(work, `${name}.blob`);
  const config = path.join(work, `${name}.sea-config.json`);
  // useCodeCache: V8's compiled code is in the blob, so start-up skips compiling the bundle (measured in
  // installer/sea/startup-bench.mjs). useSnapshot is not used: a snapshot cannot hold the addons or open sockets.
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }, null, 2));
  execFileSync(nodeBinary(), ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const binary = path.join(out, name);
  rmSync(binary, { force: true });
  copyFileSync(nodeBinary(), binary);
  if (process.platform === 'darwin') execFileSync('codesign', ['--remove-signature', binary]);
  const { inject } = require('postject');
  await inject(binary, 'NODE_SEA_BLOB', readFileSync(blob), {
    sentinelFuse: SENTINEL_FUSE,
    ...(process.platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
  });
  if (process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', binary]);
  return binary;
}

const mib = (file) => `${(statSync(file).size / 2 ** 20).toFixed(1)} MiB`;

need(path.join(repo, 'core', 'dist', 'daemon', 'main.js'), 'run npm run build');
const addon = need(path.join(repo, 'native', 'build', 'Release', 'native.node'), 'run npm run build');

rmSync(out, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const iscsidScript = await bundle('iscsid', path.join(repo, 'core', 'dist', 'daemon', 'main.js'), []);
const iscsiadmScript = await bundle('iscsiadm', path.join(repo, 'installer', 'sea', 'iscsiadm.mjs'), [
  iscsiadmPlugins(),
  yogaWithoutTopLevelAwait,
  inkWithoutDevTools,
]);
const binaries = [
  await executable('iscsid', iscsidScript, { 'package.json': path.join(repo, 'core', 'package.json') }),
  await executable('iscsiadm', iscsiadmScript, { 'package.json': path.join(repo, 'core', 'package.json') }),
];
const addons = [
  [addon, 'iscsi-native.node'],
  [napiBinding('@node-rs/crc32'), 'crc32.node'],
  ...(process.platform === 'darwin' ? [[napiBinding('@napi-rs/keyring'), 'keyring.node']] : []),
].map(([from, to]) => {
  copyFileSync(from, path.join(out, to));
  return path.join(out, to);
});

for (const file of [iscsidScript, iscsiadmScript, ...binaries, ...addons]) console.log(`${path.relative(repo, file)}\t${mib(file)}`);
