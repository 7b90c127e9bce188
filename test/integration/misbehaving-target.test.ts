// A target that breaks the rules on cue — what tgtd cannot be made to do. Each case: our initiator must end that
// connection with the right typed error, never throw out of a socket handler, never hang (every case is bounded).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodePduToBuffer,
  IscsiError,
  IscsiSession,
  Opcode,
  RESERVED_TAG,
  Stage,
  type LoginRequest,
} from '../../core/src/index.js';
import { acceptingLogin, closeScriptedTargets, loginResponse, scriptedTarget } from '../src/scripted-target.js';

afterEach(closeScriptedTargets);

function open(port: number, extra: Record<string, unknown> = {}) {
  return IscsiSession.open({
    portal: { host: '127.0.0.1', port },
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:misbehaving',
    targetName: 'iqn.2026-11.test:bad',
    loginTimeoutMs: 2_000,
    reconnect: false, // one connection's behaviour: its loss ends the session
    ...extra,
  });
}

function header(opcode: number, dataLength = 0): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = opcode;
  bhs.writeUIntBE(dataLength, 5, 3);
  return bhs;
}

describe('malformed PDUs during login end the connection with a typed error (RFC 7143 §11, issue 2 "Bad input")', () => {
  it.each([
    ['a truncated PDU, then close', (s: net.Socket) => s.end(header(0x23).subarray(0, 30)), 'ISCSI_CONNECTION_CLOSED'],
    ['a data segment longer than MaxRecvDataSegmentLength (8192 in login)', (s: net.Socket) => s.write(header(0x23, 100_000)), 'ISCSI_PDU_SEGMENT_TOO_LONG'],
    ['an unknown opcode', (s: net.Socket) => s.write(header(0x1d)), 'ISCSI_PDU_UNKNOWN_OPCODE'],
    ['an initiator opcode from the target', (s: net.Socket) => s.write(header(0x03)), 'ISCSI_PDU_UNEXPECTED'],
  ] as const)('%s → %s', async (_name, act, code) => {
    const port = await scriptedTarget((_req, _send, socket) => act(socket));
    await expect(open(port)).rejects.toMatchObject({ code });
  });

  it.each([
    ['a response for another ITT', (req: LoginRequest) => loginResponse(req, { itt: req.itt + 1, keys: [['AuthMethod', 'None']] }), 'ISCSI_LOGIN_PROTOCOL'],
    ['a stage jump to full feature from security', (req: LoginRequest) => loginResponse(req, { nsg: Stage.FullFeature, keys: [['AuthMethod', 'None']] }), 'ISCSI_LOGIN_PROTOCOL'],
    ['key text without "="', (req: LoginRequest) => loginResponse(req, { data: Buffer.from('AuthMethod\0') }), 'ISCSI_TEXT_MALFORMED'],
    ['a duplicated key', (req: LoginRequest) => loginResponse(req, { keys: [['AuthMethod', 'None'], ['AuthMethod', 'None']] }), 'ISCSI_NEGOTIATION_DUPLICATE_KEY'],
    ['a missing AuthMethod answer without transit', (req: LoginRequest) => loginResponse(req, { transit: false, nsg: 0 }), 'ISCSI_NEGOTIATION_MISSING_KEY'],
    ['an AuthMethod we did not offer', (req: LoginRequest) => loginResponse(req, { keys: [['AuthMethod', 'SRP']] }), 'ISCSI_NEGOTIATION_BAD_VALUE'],
  ] as const)('%s → %s', async (_name, reply, code) => {
    const port = await scriptedTarget((req, send) => send(reply(req)));
    await expect(open(port)).rejects.toMatchObject({ code });
  });

  it('an out-of-range operational value → ISCSI_NEGOTIATION_BAD_VALUE', async () => {
    const port = await scriptedTarget((req, send) => {
      if (req.csg === Stage.Security) return acceptingLogin(req, send);
      send(loginResponse(req, { keys: [['MaxRecvDataSegmentLength', '100'], ['HeaderDigest', 'None'], ['DataDigest', 'None']] }));
    });
    await expect(open(port)).rejects.toMatchObject({ code: 'ISCSI_NEGOTIATION_BAD_VALUE' });
  });

  it('a target that never answers the login → ISCSI_LOGIN_TIMEOUT after login_timeout', async () => {
    const port = await scriptedTarget(() => {});
    await expect(open(port, { loginTimeoutMs: 300 })).rejects.toMatchObject({ code: 'ISCSI_LOGIN_TIMEOUT' });
  });

  it('random bytes from the target, 40 times: always a typed error, never a crash or hang', async () => {
    for (let i = 0; i < 40; i++) {
      const garbage = randomBytes(1 + (i * 37) % 300);
      const port = await scriptedTarget((_req, _send, socket) => socket.end(garbage));
      const error = await open(port, { loginTimeoutMs: 1_000 }).then(
        (s) => {
          s.destroy();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(IscsiError);
    }
  });
});

describe('bad PDUs in the full feature phase end the session with a typed error and fail its commands', () => {
  it('a header digest mismatch → ISCSI_PDU_HEADER_DIGEST; the pending command fails; the process stays up', async () => {
    let socketOf: net.Socket | undefined;
    const port = await scriptedTarget(
      (req, send, socket) => {
        acceptingLogin(req, send);
        socketOf = socket;
      },
      { headerDigest: true, dataDigest: false },
    );
    const session = await open(port, { proposal: { headerDigest: ['CRC32C'] } });
    expect(session.parameters.headerDigest).toBe(true);
    const pending = session.execute({ lun: 0, cdb: Buffer.from([0, 0, 0, 0, 0, 0]) });
    const nopIn = encodePduToBuffer(
      { opcode: Opcode.NopIn, lun: 0n, itt: RESERVED_TAG, ttt: 5, statSN: 2, expCmdSN: 2, maxCmdSN: 20, data: Buffer.alloc(0) },
      { headerDigest: true, dataDigest: false },
    );
    nopIn[49] = nopIn[49]! ^ 0xff; // corrupt the header digest
    socketOf!.write(nopIn);
    await expect(pending).rejects.toMatchObject({ code: 'ISCSI_PDU_HEADER_DIGEST' });
    expect(session.isClosed).toBe(true);
  });

  it('a SCSI Response for an ITT we never used → ISCSI_PDU_UNEXPECTED, session closed', async () => {
    let socketOf: net.Socket | undefined;
    const port = await scriptedTarget((req, send, socket) => {
      acceptingLogin(req, send);
      socketOf = socket;
    });
    const session = await open(port);
    const closed = new Promise((resolve) => session.on((e) => e.type === 'closed' && resolve(e.error)));
    socketOf!.write(
      encodePduToBuffer(
        {
          opcode: Opcode.ScsiResponse, bidiOverflow: false, bidiUnderflow: false, overflow: false, underflow: false, response: 0, status: 0,
          itt: 0x4242, snackTag: 0, statSN: 2, expCmdSN: 2, maxCmdSN: 20, expDataSN: 0, bidiReadResidualCount: 0, residualCount: 0, data: Buffer.alloc(0),
        },
        { headerDigest: false, dataDigest: false },
      ),
    );
    await expect(closed).resolves.toMatchObject({ code: 'ISCSI_PDU_UNEXPECTED' });
  });
});
