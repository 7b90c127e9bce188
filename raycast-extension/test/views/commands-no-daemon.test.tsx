// The commands themselves — hooks, the data layer and the real socket — with no daemon listening, under a test
// stand-in for `@raycast/api` (./raycast-stand-in.tsx): only the UI module is stood in, because Raycast itself does
// not run on Linux. Issue 13: "The daemon not running, or the socket refused: one clear screen saying how to start or
// install it, never a stack trace."
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import ConnectAll from '../../src/connect-all';
import DisconnectAll from '../../src/disconnect-all';
import MenuBar from '../../src/menu-bar';
import Sessions from '../../src/sessions';
import Targets from '../../src/targets';
import { recorded, renderView, resetRecorded, type Rendered } from './raycast-stand-in';

vi.mock('@raycast/api', () => import('./raycast-stand-in'));

let dir: string;
let view: Rendered | undefined;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'raycast-views-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  resetRecorded();
  recorded.preferences = { socketPath: path.join(dir, 'absent.sock') };
});
afterEach(() => view?.unmount());

describe('no daemon on the socket', () => {
  it.each([
    ['Sessions', <Sessions key="s" />],
    ['Targets', <Targets key="t" />],
  ])('%s shows the one screen: not running, how to start it, the socket; no stack trace', async (_name, tree) => {
    view = renderView(tree);
    await vi.waitFor(() => expect(view!.frame()).toContain('# iscsid is not available'), { timeout: 5000 });
    const frame = view.frame();
    expect(frame).toContain(path.join(dir, 'absent.sock'));
    // How to start it (the installed launchd job) or install it (issue 13: "how to start or install it").
    expect(frame).toContain('sudo launchctl kickstart system/io.github.iscsi-initiator.iscsid');
    expect(frame).toContain('docs/install.md');
    expect(frame).not.toMatch(/\n\s+at .*\(/);
    expect(frame).not.toContain('ENOENT');
  });

  it('the menu bar says iscsid is not available instead of an icon state', async () => {
    view = renderView(<MenuBar />);
    await vi.waitFor(() => expect(view!.frame()).toContain('- iscsid is not available'), { timeout: 5000 });
  });

  it('Connect All Automatic and Disconnect All end with a HUD saying the daemon is not there', async () => {
    await ConnectAll();
    await DisconnectAll();
    expect(recorded.huds).toHaveLength(2);
    for (const hud of recorded.huds) expect(hud).toContain(path.join(dir, 'absent.sock'));
  });
});

describe('a socket that is not iscsid', () => {
  let server: Server;
  const socket = () => path.join(dir, 'other.sock');
  beforeAll(async () => {
    // Something else listens there and closes every connection at once: the extension must not hang or crash.
    server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(socket(), resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('Sessions shows the one screen, not a spinner forever', async () => {
    recorded.preferences = { socketPath: socket() };
    view = renderView(<Sessions />);
    await vi.waitFor(() => expect(view!.frame()).toContain('# iscsid is not available'), { timeout: 8000 });
    expect(view.frame()).toContain(socket());
  });
});
