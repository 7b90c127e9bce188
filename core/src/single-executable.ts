// iscsid and iscsiadm as Node single executable applications (installer/sea, issue 14): one bundled script with no
// node_modules, whose injected `require` loads built-ins only. What a checkout finds in node_modules or relative to
// its own file, a single executable finds beside the binary (native addons) or in the blob (assets).
import { createRequire } from 'node:module';
import path from 'node:path';
import { getAsset, isSea } from 'node:sea';

/** True inside a single executable application. */
export function inSingleExecutable(): boolean {
  return isSea();
}

/** A file beside the single executable's binary; undefined elsewhere. */
export function besideExecutable(file: string): string | undefined {
  return isSea() ? path.join(path.dirname(process.execPath), file) : undefined;
}

/** A native addon shipped beside the binary (the `.node` file the package script copies), loaded; undefined elsewhere. */
export function requireBesideExecutable<T>(file: string): T | undefined {
  const at = besideExecutable(file);
  // A require rooted at the binary loads an absolute path with Node's own loader (dlopen for .node).
  return at === undefined ? undefined : (createRequire(process.execPath)(at) as T);
}

/** A text asset of the blob (sea-config.json `assets`); undefined elsewhere. */
export function executableAsset(name: string): string | undefined {
  return isSea() ? getAsset(name, 'utf8') : undefined;
}
