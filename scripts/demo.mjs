// The walkthrough behind `npm run demo`: discover, log in, verified I/O, session view, log out.
// With no argument it starts a private tgtd on 127.0.0.1 with one 64 MiB LUN (a throwaway file) and writes to it;
// with `iscsi://host[:port]/target-iqn/lun` it uses that target and only reads, unless --allow-write is given.
// Each step runs the real `iscsiadm` where a command exists, so what you see is what a user gets.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  credentialsFromEnv,
  defaultInitiatorName,
  describeParameters,
  formatPortal,
  IscsiSession,
  loginAuthFrom,
  parseIscsiUrl,
  readCdb,
  redactUrl,
  writeCdb,
} from '@iscsi-initiator/core';
import { startTgtd } from '@iscsi-initiator/test';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const iscsiadm = path.join(root, 'cli', 'bin', 'run.js');
const args = process.argv.slice(2);
const allowWrite = args.includes('--allow-write');
const given = args.find((a) => a.startsWith('iscsi://'));

const step = (title) => console.log(`\n== ${title}`);
function run(...argv) {
  console.log(`$ iscsiadm ${argv.map((a) => (a.startsWith('iscsi://') ? redactUrl(a) : a)).join(' ')}`);
  const r = spawnSync(process.execPath, [iscsiadm, ...argv], { stdio: 'inherit', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`iscsiadm ${argv[0]} failed with exit code ${r.status}`);
}

let tgt;
try {
  let url;
  if (given) {
    url = given;
    console.log(`demo: using ${redactUrl(url)}${allowWrite ? '' : ' (read-only; pass --allow-write to write)'}`);
  } else {
    step('Starting a local test target (tgtd on 127.0.0.1, one 64 MiB LUN)');
    tgt = await startTgtd({ targets: [{ iqn: 'iqn.2026-11.io.github.iscsi-initiator:demo', luns: [{ sizeBytes: 64 << 20 }] }] });
    url = `iscsi://${tgt.portal}/iqn.2026-11.io.github.iscsi-initiator:demo/1`;
    console.log(`tgtd pid ${tgt.pid} listening on ${tgt.portal}`);
  }
  const parsed = parseIscsiUrl(url, { requireLun: true });
  const write = !given || allowWrite;

  step('Discovery (SendTargets)');
  run('-m', 'discovery', '-t', 'st', '-p', formatPortal(parsed.portal));

  step('LUN identity and size');
  run('lun', 'inquiry', url);
  run('lun', 'capacity', url);

  step('Log in, verified I/O');
  const env = credentialsFromEnv();
  const session = await IscsiSession.open({
    portal: parsed.portal,
    targetName: parsed.targetName,
    initiatorName: process.env.ISCSI_INITIATOR_NAME ?? defaultInitiatorName(),
    auth: loginAuthFrom({ user: parsed.user ?? env.user, secret: parsed.secret ?? env.secret, targetUser: parsed.targetUser ?? env.targetUser, targetSecret: parsed.targetSecret ?? env.targetSecret }),
  });
  try {
    const blockSize = 512;
    const blocks = 2048; // 1 MiB: several R2T bursts with tgtd's defaults
    const lba = 128;
    if (write) {
      const pattern = randomBytes(blocks * blockSize);
      await session.command({ lun: parsed.lun, cdb: writeCdb({ lba, blocks }), writeData: pattern });
      const back = await session.command({ lun: parsed.lun, cdb: readCdb({ lba, blocks }), readLength: pattern.length });
      if (!back.data.equals(pattern)) throw new Error('read-back differs from what was written');
      console.log(`wrote ${pattern.length} random bytes at LBA ${lba} and read back identical data`);
    } else {
      const a = await session.command({ lun: parsed.lun, cdb: readCdb({ lba: 0, blocks }), readLength: blocks * blockSize });
      const b = await session.command({ lun: parsed.lun, cdb: readCdb({ lba: 0, blocks }), readLength: blocks * blockSize });
      if (!a.data.equals(b.data)) throw new Error('two reads of the same blocks differ');
      console.log(`read ${a.data.length} bytes from LBA 0 twice, identical`);
    }

    step('Session view');
    console.log(`Target: ${parsed.targetName}`);
    console.log(`  Portal: ${formatPortal(session.portal)}  TSIH: ${session.tsih}  Authentication: ${session.login.authenticated}`);
    const numbering = session.numbering;
    console.log(`  CmdSN: ${numbering.cmdSN}  ExpCmdSN: ${numbering.expCmdSN}  MaxCmdSN: ${numbering.maxCmdSN}  ExpStatSN: ${numbering.expStatSN}`);
    console.log('  Negotiated iSCSI parameters:');
    for (const [key, value] of Object.entries(describeParameters(session.parameters))) console.log(`    ${key}: ${value}`);
  } finally {
    step('Log out');
    await session.logout();
    console.log('logged out');
  }
  console.log('\ndemo: done');
} catch (e) {
  console.error(`demo: ${e?.message ?? e}`);
  process.exitCode = 1;
} finally {
  await tgt?.stop();
}
