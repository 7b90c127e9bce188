// The bridge over a real SessionCore driven by the scripted target (core/test/session/harness.ts) and a fake clock:
// the HBA's tasks through recovery, replacement_timeout and ABORT TASK, as issue 12 item 2 asks.
import { describe, expect, it } from 'vitest';
import { HBA_CONSTANTS as C, HbaCmdOp, HbaDirection, HbaServiceResponse } from '../../src/hba/abi.js';
import { HbaBridge } from '../../src/hba/bridge.js';
import { TransportError } from '../../src/errors.js';
import { Opcode } from '../../src/pdu/types.js';
import { TmfFunction, TmfResponse } from '../../src/session/task-management.js';
import { read10, Scene } from '../session/harness.js';
import { FakeHba, settle } from './fake-hba.js';

const lost = () => new TransportError('ISCSI_CONNECTION_CLOSED', 'connection reset by the target');
const SLOT = C.POOL_SLOT_SIZE;

async function setup(replacementTimeoutMs = 10_000) {
  const hba = new FakeHba();
  const bridge = new HbaBridge(hba);
  const scene = new Scene({ replacementTimeoutMs });
  const { targetId } = await bridge.attachSession('iqn.2026-12.test:disk,1', scene.core);
  return { hba, bridge, scene, targetId };
}

describe('HBA tasks on a real session (issue 12: "While a session recovers, its tasks wait")', () => {
  it('Data-In lands in the pool and the write\'s immediate data is a view of the pool (no copy down to the PDU)', async () => {
    const { hba, scene } = await setup();
    const c = scene.connect();
    hba.poolBytes(SLOT, 512).fill(0x77);
    hba.submit({ tag: 1, direction: HbaDirection.READ, cdb: read10(5), transferLength: 512, poolOffset: 0, poolLength: SLOT });
    hba.submit({ tag: 2, direction: HbaDirection.WRITE, cdb: Buffer.from([0x2a, 0, 0, 0, 0, 5, 0, 0, 1, 0]), transferLength: 512, poolOffset: SLOT, poolLength: SLOT });
    hba.notify();
    const [read, write] = c.commands();
    expect(write!.data.buffer).toBe(hba.pool); // ImmediateData=Yes (RFC 7143 13.11): sent from the pool in place
    expect(write!.data.byteOffset).toBe(SLOT);
    c.dataInWithStatus(read!, Buffer.alloc(512, 0x42));
    c.respond(write!);
    await settle();
    expect(hba.poolBytes(0, 512).every((b) => b === 0x42)).toBe(true);
    expect(hba.completions().map((x) => [x.tag, x.scsiStatus, x.dataLength])).toEqual([
      [1, 0, 512],
      [2, 0, 512],
    ]);
  });

  it('the target\'s sense (RFC 7143 11.4.7.2: SenseLength, then the sense) reaches aux[tag].sense byte for byte', async () => {
    const { hba, scene } = await setup();
    const c = scene.connect();
    hba.submit({ tag: 11, cdb: Buffer.alloc(6) });
    hba.notify();
    const sense = Buffer.from([0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x01, 0, 0, 0, 0]); // NOT READY, becoming ready
    const data = Buffer.concat([Buffer.from([0, sense.length]), sense]);
    c.respond(c.commands()[0]!, 2, data);
    await settle();
    const [done] = hba.completions();
    expect(done).toMatchObject({ tag: 11, scsiStatus: 2, senseLength: 18 });
    expect(done!.sense).toEqual(sense);
  });

  it('a task held through a lost connection is re-issued on the next one and completes GOOD; nothing is answered meanwhile', async () => {
    const { hba, scene } = await setup();
    const c1 = scene.connect();
    hba.submit({ tag: 9, generation: 4, direction: HbaDirection.READ, cdb: read10(1), transferLength: 512, poolOffset: 0, poolLength: SLOT });
    hba.notify();
    expect(c1.commands()).toHaveLength(1);
    scene.advance(100);
    expect(scene.lose(lost())).toBe('reconnect');
    scene.advance(5_000);
    await settle();
    expect(hba.completions()).toEqual([]);
    const c2 = scene.connect({ cmdSN: 50 });
    expect(c2.commands()).toHaveLength(1);
    c2.dataInWithStatus(c2.commands()[0]!, Buffer.alloc(512, 1));
    await settle();
    expect(hba.completions()).toEqual([expect.objectContaining({ tag: 9, generation: 4, serviceResponse: HbaServiceResponse.COMPLETE, scsiStatus: 0, dataLength: 512 })]);
  });

  it('"When replacement_timeout expires they fail with a status that makes the SCSI stack return I/O errors": TARGET_FAILURE, and new tasks fail at once', async () => {
    const { hba, scene, bridge, targetId } = await setup(10_000);
    scene.connect();
    hba.submit({ tag: 3, cdb: read10(1) });
    hba.notify();
    scene.lose(lost());
    scene.advance(9_999);
    await settle();
    expect(hba.completions()).toEqual([]);
    scene.advance(1);
    await settle();
    expect(hba.completions()).toEqual([expect.objectContaining({ tag: 3, serviceResponse: HbaServiceResponse.TARGET_FAILURE, scsiStatus: 0 })]);
    hba.submit({ tag: 4, cdb: read10(2) });
    hba.notify();
    await settle();
    expect(hba.completions()).toEqual([expect.objectContaining({ tag: 4, serviceResponse: HbaServiceResponse.TARGET_FAILURE })]);
    expect(bridge.stats(targetId)).toMatchObject({ commands: 2, failures: 2 });
  });

  it('an abort in the ring becomes ABORT TASK for that task (RFC 7143 11.5.1); its completion is TASK ABORTED', async () => {
    const { hba, scene } = await setup();
    const c = scene.connect();
    hba.submit({ tag: 30, generation: 7, cdb: read10(3) });
    hba.submit({ tag: 31, generation: 1, cdb: read10(4) });
    hba.notify();
    hba.submit({ tag: 30, generation: 7, op: HbaCmdOp.ABORT });
    hba.notify();
    const tmf = c.tmfs()[0]!;
    expect(tmf).toMatchObject({ function: TmfFunction.AbortTask, referencedTaskTag: c.commands()[0]!.itt });
    c.tmfResponse(tmf, TmfResponse.FunctionComplete);
    await settle();
    expect(hba.completions()).toEqual([expect.objectContaining({ tag: 30, generation: 7, serviceResponse: HbaServiceResponse.COMPLETE, scsiStatus: 0x40 })]);
    expect(c.sent.filter((p) => p.opcode === Opcode.ScsiCommand)).toHaveLength(2); // the other task lives on
  });
});
