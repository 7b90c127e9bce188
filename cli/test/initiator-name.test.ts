// Issue 9: "one generator and one stored name": a direct `iscsiadm lun …` command logs in with the initiator name the
// daemon logs in with — asked of the running iscsid, else read from its state dir — so one host has one IQN. tgtd
// proves which name was used: the target is bound to the daemon's name alone (`tgtadm --op bind --initiator-name`),
// so a login under any other name is refused (tgtd answers 0x0203, RFC 7143 §11.13.5).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '@iscsi-initiator/core/rpc';
import { startIscsid, type IscsidInstance } from '../../test/src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../../test/src/tgtd.js';
import { runCli } from './run-cli.js';

const TARGET = 'iqn.2026-11.test.cli:one-name';
const DAEMON_NAME = 'iqn.2026-11.test.cli:the-daemons-name';

let tgt: TgtdInstance;
let iscsid: IscsidInstance;
let url: string;

/** A direct command with the daemon found only through the environment (never the machine's real default paths). */
function inquiry(env: Record<string, string>) {
  const base = { ISCSI_INITIATOR_NAME: '', ISCSID_SOCKET: path.join(iscsid.dir, 'no-daemon.sock'), ISCSID_STATE_DIR: path.join(iscsid.dir, 'no-state') };
  return runCli(['lun', 'inquiry', url, '--json'], { env: { ...base, ...env } });
}

beforeAll(async () => {
  // No address is allowed (192.0.2.1 is TEST-NET-1, never ours): the name ACL alone lets a login in.
  tgt = await startTgtd({ targets: [{ iqn: TARGET, luns: [{ sizeBytes: 8 << 20 }], allow: '192.0.2.1' }] });
  await tgt.tgtadm(['--mode', 'target', '--op', 'bind', '--tid', '1', '--initiator-name', DAEMON_NAME]);
  url = `iscsi://${tgt.portal}/${TARGET}/1`;
  iscsid = await startIscsid();
  const admin = await RpcClient.connect(iscsid.socket);
  try {
    await admin.call('initiator.set', { name: DAEMON_NAME });
  } finally {
    admin.close();
  }
});

afterAll(async () => {
  await iscsid?.stop();
  await tgt?.stop();
});

describe('a direct lun command logs in with the daemon\'s initiator name', () => {
  it('tgtd refuses any other name: the generated one, with no daemon and no state dir to learn from', async () => {
    const r = await inquiry({});
    // tgtd hides a target from an initiator its ACL does not allow: Login Response 0x0203, not found (exit 19).
    expect(r.code).toBe(19);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'ISCSI_LOGIN_TARGET_NOT_FOUND', statusClass: 2, statusDetail: 3 });
  });

  it('asks the running iscsid (initiator.get) and logs in as it', async () => {
    const r = await inquiry({ ISCSID_SOCKET: iscsid.socket });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ deviceType: expect.any(String) });
  });

  it('with iscsid stopped, reads the name stored in its state dir', async () => {
    const stateDir = path.join(iscsid.dir, 'state'); // test/src/iscsid.ts: --state-dir <dir>/state
    await iscsid.stop({ keepDir: true });
    const r = await inquiry({ ISCSID_SOCKET: iscsid.socket, ISCSID_STATE_DIR: stateDir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('--initiator-name and $ISCSI_INITIATOR_NAME still override it', async () => {
    expect((await inquiry({ ISCSI_INITIATOR_NAME: DAEMON_NAME })).code).toBe(0);
    expect((await runCli(['lun', 'inquiry', url, '--initiator-name', 'iqn.2026-11.test.cli:someone-else'], { env: { ISCSID_STATE_DIR: path.join(iscsid.dir, 'state') } })).code).toBe(19);
  });
});
