// The walkthrough behind `npm run demo`: discover, log in, verified I/O, session view, log out; then, on Linux, the
// session becomes a disk (scripts/demo-disk.mjs: iscsid --hba simulator, ext4 on the LUN, a file written and read back).
// With no argument it starts the project's own test target in this process (RAM-backed, one 64 MiB LUN, nothing to
// install — it works on a Mac too); with `iscsi://host[:port]/target-iqn/lun` it uses that target and only reads,
// unless --allow-write is given (which also lets the disk part make a filesystem on it, erasing the LUN). Each step
// runs the real `iscsiadm` where a command exists.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  credentialsFromEnv,
  generateInitiatorName,
  describeParameters,
  formatPortal,
  loginAuthFrom,
  parseIscsiUrl,
  readCdb,
  IscsiSession,
  redactUrl,
} from '@iscsi-initiator/core';
import { TestTarget } from '@iscsi-initiator/test';
import { cleanups, diskDemo, diskPlan, interrupt } from './demo-disk.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const iscsiadm = path.join(root, 'cli', 'bin', 'run.js');
const args = process.argv.slice(2);
const allowWrite = args.includes('--allow-write');
const given = args.find((a) => a.startsWith('iscsi://'));

const step = (title) => console.log(`\n== ${title}`);
// Asynchronous, so the in-process test target keeps answering while iscsiadm runs.
function run(...argv) {
  console.log(`$ iscsiadm ${argv.map((a) => (a.startsWith('iscsi://') ? redactUrl(a) : a)).join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [iscsiadm, ...argv], { stdio: 'inherit' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`iscsiadm ${argv[0]} ${argv[1] ?? ''} failed with exit code ${code}`));
    });
  });
}

let target;
// Ctrl-C during the disk part: the running step stops and the demo unwinds through its clean-up (unmount, loop device,
// FUSE, logout, iscsid and its simulator). Before it, or at a second Ctrl-C, it exits at once.
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted || cleanups.pending === 0) process.exit(130);
  interrupted = true;
  console.error('\ndemo: interrupted: stopping, then cleaning up (Ctrl-C again to leave at once)');
  interrupt();
});
try {
  let url;
  if (given) {
    url = given;
    console.log(`demo: using ${redactUrl(url)}${allowWrite ? '' : ' (read-only; pass --allow-write to write)'}`);
  } else {
    step('Starting the built-in test target (RAM-backed, one 64 MiB LUN, on 127.0.0.1)');
    target = await TestTarget.start({ targets: [{ luns: [{ sizeBytes: 64 << 20 }] }] });
    url = target.url(0);
    console.log(`${target.targetName} on ${target.address}`);
  }
  const parsed = parseIscsiUrl(url, { requireLun: true });

  step('Discovery (SendTargets)');
  await run('-m', 'discovery', '-t', 'st', '-p', formatPortal(parsed.portal));

  step('LUN identity and size');
  await run('lun', 'inquiry', url);
  await run('lun', 'capacity', url);

  step('Verified I/O');
  if (!given || allowWrite) {
    // Self-checking blocks (LBA, generation, CRC32C) written and read back at random for 3 s: any mismatch fails.
    await run('lun', 'bench', url, '--rw', 'randrw', '--bs', '4k', '--qd', '8', '--time', '3', '--size', '16m', '--verify');
  } else {
    await run('lun', 'bench', url, '--rw', 'randread', '--bs', '64k', '--qd', '4', '--time', '3');
  }

  step('Session view');
  const env = credentialsFromEnv();
  const session = await IscsiSession.open({
    portal: parsed.portal,
    targetName: parsed.targetName,
    initiatorName: process.env.ISCSI_INITIATOR_NAME ?? generateInitiatorName(),
    auth: loginAuthFrom({ user: parsed.user ?? env.user, secret: parsed.secret ?? env.secret, targetUser: parsed.targetUser ?? env.targetUser, targetSecret: parsed.targetSecret ?? env.targetSecret }),
  });
  try {
    const first = await session.command({ lun: parsed.lun, cdb: readCdb({ lba: 0, blocks: 8 }), readLength: 4096 });
    const numbering = session.numbering;
    console.log(`Target: ${parsed.targetName}`);
    console.log(`  Portal: ${formatPortal(session.portal)}  TSIH: ${session.tsih}  State: ${session.state}  Authentication: ${session.login.authenticated}`);
    console.log(`  CmdSN: ${numbering.cmdSN}  ExpCmdSN: ${numbering.expCmdSN}  MaxCmdSN: ${numbering.maxCmdSN}  ExpStatSN: ${numbering.expStatSN}`);
    console.log(`  Read ${first.data.length} bytes from LBA 0`);
    console.log('  Negotiated iSCSI parameters:');
    for (const [key, value] of Object.entries(describeParameters(session.parameters))) console.log(`    ${key}: ${value}`);
  } finally {
    step('Log out');
    await session.logout();
    console.log(`session ${session.state}`);
  }

  step('A session becomes a disk: iscsid --hba simulator');
  const credentials = [parsed.user, parsed.secret, env.user, env.secret].some((v) => v !== undefined);
  const plan = given && !allowWrite ? { skip: 'it makes a filesystem on the LUN, erasing it: pass --allow-write' } : credentials ? { skip: "the target needs CHAP: this part logs in through a fresh iscsid without it (store the node's CHAP with `iscsiadm node -o update`)" } : await diskPlan(root);
  if (plan.skip) console.log(`skipped: ${plan.skip}`);
  else await diskDemo({ root, portal: formatPortal(parsed.portal), targetName: parsed.targetName, lun: parsed.lun, mode: plan.mode, step });
  console.log('\ndemo: done');
} catch (e) {
  console.error(`demo: ${e?.message ?? e}`);
  process.exitCode = interrupted ? 130 : 1;
} finally {
  await target?.close();
}
