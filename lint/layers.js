// An ESLint rule for the layers of shared/STYLE.md: in core/src each layer imports only itself and the layers below it;
// the CLI and the Raycast extension reach core only through its package entry points, never by path.
// Judged on the resolved path of each relative import (no module resolver: `.js` specifiers name `.ts` files here, and a
// resolver that cannot find a file would silently pass it), and on the specifier of each package import.
import path from 'node:path';

/** Top-level files of core/src that are shared bottom utilities (everything else at the top is an entry point). */
const SHARED = new Set(['errors', 'defaults', 'portal', 'iscsi-name', 'platform-paths', 'initiator-name', 'single-executable']);

/**
 * What each core/src layer may import, besides itself. `login` and `session` are one level (the state machines; login
 * uses session's RFC 1982 serial arithmetic). `scsi` stands apart: it builds CDBs and decodes sense, knowing no iSCSI.
 * `url` parses iscsi:// URLs into login settings, so it sits with login. `rpc` is the contract and its client: a
 * client bundle must pull in nothing but errors and defaults.
 */
const ALLOWED = {
  shared: ['shared'],
  pdu: ['shared'],
  scsi: ['shared'],
  text: ['shared', 'pdu'],
  login: ['shared', 'pdu', 'text', 'scsi', 'session'],
  session: ['shared', 'pdu', 'text', 'scsi', 'login'],
  url: ['shared', 'pdu', 'text', 'login', 'session'],
  net: ['shared', 'pdu', 'text', 'scsi', 'login', 'session', 'url'],
  hba: ['shared', 'pdu', 'text', 'scsi', 'login', 'session', 'url', 'net'],
  rpc: ['errors', 'defaults', 'platform-paths'],
  daemon: ['shared', 'pdu', 'text', 'scsi', 'login', 'session', 'url', 'net', 'hba', 'rpc'],
};

/** Packages a layer must not import (the RPC client must bundle without the daemon's native and logging deps). */
const FORBIDDEN_PACKAGES = {
  rpc: ['@iscsi-initiator/native', 'pino', 'pino-pretty', '@napi-rs/keyring', 'conf'],
};

const posix = (p) => p.split(path.sep).join('/');

/** The layer of a file under core/src (`rel` is relative to core/src), or undefined for an entry point. */
function coreLayer(rel) {
  const [first, ...rest] = rel.split('/');
  if (rest.length === 0) {
    const name = first.replace(/\.[cm]?[jt]sx?$/, ''); // a specifier says `.js` for the `.ts` it names
    if (SHARED.has(name)) return 'shared';
    if (name === 'url') return 'url';
    return undefined;
  }
  return first;
}

/** The finer name a target has inside the shared layer (for rpc's narrower list). */
function sharedName(rel) {
  return rel.split('/')[0].replace(/\.[cm]?[jt]s$/, '');
}

/** Where a file sits: `{ area, rel }` with area one of core, cli, raycast, or undefined elsewhere. */
function locate(root, file) {
  const rel = posix(path.relative(root, file));
  for (const [prefix, area] of [['core/src/', 'core'], ['cli/src/', 'cli'], ['raycast-extension/src/', 'raycast']]) {
    if (rel.startsWith(prefix)) return { area, rel: rel.slice(prefix.length), repoRel: rel };
  }
  return undefined;
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Enforce the import layers of shared/STYLE.md' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: {
      upward: "core/src/{{from}} may not import {{to}} ('{{spec}}'): {{from}} may import only {{allowed}} (shared/STYLE.md layers).",
      forbiddenPackage: "core/src/{{from}} may not import the package '{{spec}}': an RPC client must bundle without the daemon's dependencies.",
      corePath: "{{area}} may not import core by path ('{{spec}}'): use the package '@iscsi-initiator/core' (or its declared subpath entry points).",
      raycastCore: "the Raycast extension may import only '@iscsi-initiator/core/rpc' ('{{spec}}').",
    },
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = context.filename;
    const here = locate(root, file);
    if (here === undefined) return {};

    function check(node, spec) {
      if (typeof spec !== 'string') return;
      const relative = spec.startsWith('./') || spec.startsWith('../');
      if (here.area === 'core') {
        const from = coreLayer(here.rel);
        if (from === undefined) return; // an entry point (index.ts and the other package entries) may import any layer
        if (!relative) {
          const bad = FORBIDDEN_PACKAGES[from]?.find((p) => spec === p || spec.startsWith(`${p}/`));
          if (bad !== undefined) context.report({ node, messageId: 'forbiddenPackage', data: { from, spec } });
          return;
        }
        const target = posix(path.relative(path.join(root, 'core/src'), path.resolve(path.dirname(file), spec)));
        if (target.startsWith('../')) return; // outside core/src: not a layer
        const to = coreLayer(target);
        if (to === from) return;
        const allowed = ALLOWED[from] ?? [];
        const ok = to !== undefined && (allowed.includes(to) || (to === 'shared' && allowed.includes(sharedName(target))));
        if (!ok) {
          const name = to === undefined ? `the entry point ${target}` : to === 'shared' ? sharedName(target) : `${to}/`;
          context.report({ node, messageId: 'upward', data: { from: `${from === 'shared' || from === 'url' ? here.rel : `${from}/`}`, to: name, spec, allowed: allowed.join(', ') } });
        }
        return;
      }
      // cli and raycast: nothing outside their own package by path, and core only through its entry points.
      if (relative) {
        const target = posix(path.relative(root, path.resolve(path.dirname(file), spec)));
        const own = here.area === 'cli' ? 'cli/' : 'raycast-extension/';
        if (!target.startsWith(own)) context.report({ node, messageId: 'corePath', data: { area: here.area, spec } });
        return;
      }
      if (spec === '@iscsi-initiator/core' || spec.startsWith('@iscsi-initiator/core/')) {
        const sub = spec.slice('@iscsi-initiator/core'.length);
        if (here.area === 'raycast' && sub !== '/rpc') context.report({ node, messageId: 'raycastCore', data: { spec } });
        else if (/^\/(src|dist)(\/|$)/.test(sub)) context.report({ node, messageId: 'corePath', data: { area: here.area, spec } });
      }
    }

    const fromSource = (node) => check(node.source, node.source?.value);
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: (node) => node.source && fromSource(node),
      ExportAllDeclaration: fromSource,
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
      TSImportType: (node) => {
        const lit = node.argument?.type === 'TSLiteralType' ? node.argument.literal : node.source;
        if (lit?.type === 'Literal') check(lit, lit.value);
      },
    };
  },
};

export default { meta: { name: 'iscsi-layers' }, rules: { layers: layersRule } };
