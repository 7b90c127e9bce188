/**
 * open-iscsi's iscsiadm selects what to act on with `-m MODE` (`-m discovery -t st -p host`, `-m node -T iqn --login`).
 * Ours uses oclif topics (`iscsiadm discovery -p host`). This rewrites the first form into the second so both work:
 * the mode becomes the leading command word and every other argument stays in order.
 */
const MODES: Readonly<Record<string, string>> = {
  discovery: 'discovery',
  discoverydb: 'discovery',
  node: 'node',
  session: 'session',
  iface: 'iface',
  host: 'host',
};

export function translateModeArgs(argv: readonly string[]): string[] {
  const args = [...argv];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    let mode: string | undefined;
    let width = 1;
    if (arg === '-m' || arg === '--mode') {
      mode = args[i + 1];
      width = 2;
    } else if (arg.startsWith('--mode=')) {
      mode = arg.slice('--mode='.length);
    } else if (/^-m[a-z]/.test(arg)) {
      mode = arg.slice(2);
    }
    if (mode === undefined) continue;
    const topic = MODES[mode];
    // An unknown mode is left for the topic parser to reject with its own message.
    args.splice(i, width);
    return [topic ?? mode, ...args];
  }
  return args;
}
