/**
 * The test target as a program — the zero-install demo target where there is no tgtd (a Mac):
 *
 *   node test/dist/test-target/main.js [--host 127.0.0.1] [--port 3260] [--target IQN] [--lun-size 64M]
 *        [--luns 1] [--block-size 512] [--chap-user U] [--chap-target-user U]
 *
 * CHAP secrets come from the environment only (TEST_TARGET_CHAP_SECRET, and TEST_TARGET_CHAP_TARGET_SECRET for
 * mutual CHAP), never from the command line. It prints its portal and target, then serves until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { IscsiError } from '@iscsi-initiator/core';
import { DEFAULT_TARGET_NAME, isLoopback, type TargetOptions } from './options.js';
import { TestTarget } from './test-target.js';

const USAGE = `usage: node test/dist/test-target/main.js [--host 127.0.0.1] [--port 3260] [--target IQN]
       [--lun-size 64M] [--luns N] [--block-size 512|4096] [--chap-user USER] [--chap-target-user USER]
CHAP secrets: TEST_TARGET_CHAP_SECRET (and TEST_TARGET_CHAP_TARGET_SECRET for mutual CHAP).`;

/** Exit codes as the CLI uses them (open-iscsi's): 7 invalid argument, 4 cannot listen. */
const EXIT_USAGE = 7;
const EXIT_LISTEN = 4;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '3260' },
        target: { type: 'string', default: DEFAULT_TARGET_NAME },
        'lun-size': { type: 'string', default: '64M' },
        luns: { type: 'string', default: '1' },
        'block-size': { type: 'string', default: '512' },
        'chap-user': { type: 'string' },
        'chap-target-user': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const port = Number(values.port);
  const luns = Number(values.luns);
  const blockSize = Number(values['block-size']);
  if (!/^\d+$/.test(values.port) || !/^\d+$/.test(values.luns) || luns < 1 || (blockSize !== 512 && blockSize !== 4096)) {
    process.stderr.write(`--port and --luns take numbers, --block-size 512 or 4096\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const chapUser = values['chap-user'];
  const chapSecret = process.env['TEST_TARGET_CHAP_SECRET'];
  const targetUser = values['chap-target-user'];
  const targetSecret = process.env['TEST_TARGET_CHAP_TARGET_SECRET'];
  if (chapUser !== undefined && !chapSecret) {
    process.stderr.write('--chap-user needs the secret in TEST_TARGET_CHAP_SECRET\n');
    return EXIT_USAGE;
  }
  if (targetUser !== undefined && (!targetSecret || chapUser === undefined)) {
    process.stderr.write('--chap-target-user needs --chap-user and the secret in TEST_TARGET_CHAP_TARGET_SECRET\n');
    return EXIT_USAGE;
  }
  const target: TargetOptions = {
    name: values.target,
    luns: Array.from({ length: luns }, () => ({ size: values['lun-size'], blockSize: blockSize as 512 | 4096 })),
    ...(chapUser !== undefined
      ? { chap: { incoming: { user: chapUser, secret: chapSecret! }, outgoing: targetUser !== undefined ? { user: targetUser, secret: targetSecret! } : undefined } }
      : {}),
  };
  let server: TestTarget;
  try {
    server = await TestTarget.start({ host: values.host, port, targets: [target], allowNonLoopback: true });
  } catch (e) {
    process.stderr.write(`test target: ${(e as Error).message}\n`);
    return e instanceof IscsiError && e.code === 'ISCSI_BAD_ARGUMENT' ? EXIT_USAGE : EXIT_LISTEN;
  }
  if (!isLoopback(values.host)) process.stderr.write(`warning: serving a RAM disk on ${values.host}, beyond this machine\n`);
  process.stdout.write(`portal ${server.address},1\ntarget ${server.targetName}\nurl    ${server.url(0)}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`test target: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
