// The Targets and Sessions commands as a user drives them — hooks, data layer, a real iscsid on its socket and a real
// tgtd — under a test stand-in for `@raycast/api` (../views/raycast-stand-in.tsx): only the UI module is stood in,
// because Raycast itself does not run on Linux. Issue 13: "Log in and log out by pressing Enter on a node, with a toast
// that says what happened"; "A session dropping while a command is open updates it, through the daemon's
// notifications."
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RpcClient } from '@iscsi-initiator/core/rpc';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startIscsid, type IscsidInstance } from '../../../test/src/iscsid.js';
import { requireTool } from '../../../test/src/require-tool.js';
import { startTgtd, type TgtdInstance } from '../../../test/src/tgtd.js';
import Sessions from '../../src/sessions';
import Targets from '../../src/targets';
import { press, recorded, renderView, resetRecorded, type Rendered } from '../views/raycast-stand-in';

vi.mock('@raycast/api', () => import('../views/raycast-stand-in'));

const TARGET = 'iqn.2026-12.test.raycast:live';
const ready = requireTool('tgtd');
let tgt: TgtdInstance;
let iscsid: IscsidInstance;
let dir: string;
let view: Rendered | undefined;

beforeAll(async () => {
  if (!ready) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'raycast-live-'));
  tgt = await startTgtd({ targets: [{ iqn: TARGET }] });
  iscsid = await startIscsid({ dir });
  const client = await RpcClient.connect(iscsid.socket);
  try {
    await client.call('discovery.sendTargets', { portal: tgt.portal });
  } finally {
    client.close();
  }
}, 30_000);
afterAll(async () => {
  await iscsid?.stop();
  await tgt?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  resetRecorded();
  if (ready) recorded.preferences = { socketPath: iscsid.socket };
});
afterEach(() => view?.unmount());

const waitFrame = (text: string | RegExp, timeout = 15_000) =>
  vi.waitFor(() => expect(view!.frame()).toMatch(text), { timeout, interval: 50 });

describe.runIf(ready)('Targets and Sessions against iscsid and tgtd', () => {
  it(
    'Enter on a discovered node logs in, with a toast; the list then shows it connected',
    { timeout: 30_000 },
    async () => {
      view = renderView(<Targets />);
      await waitFrame(`• ${TARGET} | Not connected`);
      await press('Log in');
      await waitFrame(`• ${TARGET} | Connected`);
      expect(recorded.toasts.at(-1)).toEqual({ style: 'success', title: 'Logged in to live' });
    },
  );

  it(
    'Sessions shows the session and its LUN; when the target goes away the open view turns to reconnecting by itself; Log out ends it',
    { timeout: 40_000 },
    async () => {
      view = renderView(<Sessions />);
      await waitFrame(new RegExp(`§ ${TARGET.replace(/\./g, '\\.')} \\| ${tgt.portal} · sid \\d+`));
      await waitFrame(/• Connected \| icon=CheckCircle\/green/);
      await waitFrame(/• LUN 1 \| [\d.]+ MiB · IET VIRTUAL-DISK/);
      // No user action from here: the daemon's session.stateChanged notification makes the view load again.
      await tgt.stop();
      await waitFrame(/• (Reconnecting|Logging in) \| [^|]+\| icon=/);
      await press('Log out');
      await waitFrame('(empty) No sessions');
      expect(recorded.toasts.at(-1)).toMatchObject({ title: 'Logged out of live' });
    },
  );
});

describe('the daemon started after the command opened', () => {
  let later: IscsidInstance | undefined;
  let laterDir: string;
  afterEach(async () => {
    await later?.stop();
    if (laterDir) rmSync(laterDir, { recursive: true, force: true });
  });

  it(
    '"Try Again" on the problem screen connects to it (issue 13: the screen says how to start iscsid; then it works)',
    { timeout: 30_000 },
    async () => {
      laterDir = mkdtempSync(path.join(os.tmpdir(), 'raycast-later-'));
      const socket = path.join(laterDir, 'iscsid.sock');
      recorded.preferences = { socketPath: socket };
      view = renderView(<Sessions />);
      await waitFrame('# iscsid is not available');
      later = await startIscsid({ dir: laterDir, socket });
      await press('Try Again');
      await waitFrame('(empty) No sessions');
    },
  );
});
