import { describe, expect, it } from 'vitest';
import { ScsiError } from '../../src/errors.js';
import {
  ascqName,
  decodeSense,
  describeSense,
  scsiErrorFromSense,
  scsiStatusName,
  senseFromResponseData,
  senseKeyName,
  ScsiStatus,
} from '../../src/scsi/index.js';

const hb = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function badData(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ScsiError);
  expect((caught as ScsiError).code).toBe('ISCSI_SCSI_BAD_DATA');
}

// SPC-4 §4.5.3 fixed format: [0] VALID|70h [2] key [3..6] INFORMATION [7] ADDITIONAL SENSE LENGTH [12] ASC [13] ASCQ
const LBA_OUT_OF_RANGE = hb('70 00 05 00000000 0a 00000000 21 00 00 000000');

describe('fixed-format sense — SPC-4 §4.5.3', () => {
  it('decodes sense key, ASC/ASCQ and describes them in one line', () => {
    const s = decodeSense(LBA_OUT_OF_RANGE);
    expect(s).toMatchObject({ responseCode: 0x70, format: 'fixed', current: true, senseKey: 5, asc: 0x21, ascq: 0, truncated: false });
    expect(s.information).toBeUndefined();
    expect(describeSense(s)).toBe('ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)');
  });

  it('VALID → INFORMATION; SKSV with ILLEGAL REQUEST → field pointer (C/D, BPV, BIT POINTER, FIELD POINTER)', () => {
    // [15] = SKSV|C/D|BPV|bit 3 = 0xcb, [16..17] field 2
    const s = decodeSense(hb('f0 00 05 00001234 0a 00000000 24 00 00 cb 0002'));
    expect(s.information).toBe(0x1234n);
    expect(s.fieldPointer).toEqual({ commandData: true, field: 2, bit: 3 });
    expect(describeSense(s)).toBe('ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00)');
  });

  it('a field pointer into the parameter list without BPV has no bit', () => {
    const s = decodeSense(hb('70 00 05 00000000 0a 00000000 26 00 00 80 0010'));
    expect(s.fieldPointer).toEqual({ commandData: false, field: 16 });
  });

  it('NOT READY with SKSV → progress indication', () => {
    const s = decodeSense(hb('70 00 02 00000000 0a 00000000 04 04 00 80 4000'));
    expect(s.progress).toBe(0x4000);
    expect(s.fieldPointer).toBeUndefined();
    expect(describeSense(s)).toBe('NOT READY: LOGICAL UNIT NOT READY, FORMAT IN PROGRESS (0x04/0x04)');
  });

  it('71h is a deferred error; FILEMARK/EOM/ILI flags, FRU code and command-specific information decode', () => {
    const s = decodeSense(hb('71 00 e6 00000000 0a 0000abcd 29 00 07 000000'));
    expect(s).toMatchObject({ current: false, senseKey: 6, filemark: true, eom: true, ili: true, fruCode: 7, commandSpecificInformation: 0xabcdn });
    expect(describeSense(s)).toBe('UNIT ATTENTION: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (0x29/0x00) [deferred error]');
  });

  it('best effort: 3 bytes give the sense key; missing ASC/ASCQ or promised bytes mark it truncated', () => {
    expect(decodeSense(hb('70 00 06'))).toMatchObject({ senseKey: 6, asc: 0, ascq: 0, truncated: true });
    expect(decodeSense(hb('70 00 06 00000000 0a 00000000 2a 09'))).toMatchObject({ senseKey: 6, asc: 0x2a, ascq: 9, truncated: true });
    // Bytes beyond ADDITIONAL SENSE LENGTH are ignored, not decoded.
    const declaredShort = decodeSense(hb('70 00 06 00000000 04 00000000 2a 09 00 000000'));
    expect(declaredShort).toMatchObject({ asc: 0, ascq: 0, truncated: true });
  });

  it('not sense data at all (empty, 1-2 bytes fixed, unknown response code) is ISCSI_SCSI_BAD_DATA', () => {
    badData(() => decodeSense(Buffer.alloc(0)));
    badData(() => decodeSense(hb('70 00')));
    badData(() => decodeSense(hb('00 00 05 00000000 0a')));
    badData(() => decodeSense(hb('7f 00 05')));
  });
});

describe('descriptor-format sense — SPC-4 §4.5.2', () => {
  // Information (00h, VALID, 8-byte value) + sense key specific (02h) + block commands (05h, ILI)
  const DESCRIPTORS = hb(`72 05 24 00 000000 18
                          00 0a 80 00 0000000000001234
                          02 06 0000 c8 0005 00
                          05 02 00 20`);

  it('decodes the header and every descriptor', () => {
    const s = decodeSense(DESCRIPTORS);
    expect(s).toMatchObject({ responseCode: 0x72, format: 'descriptor', current: true, senseKey: 5, asc: 0x24, ascq: 0, truncated: false });
    expect(s.information).toBe(0x1234n);
    expect(s.fieldPointer).toEqual({ commandData: true, field: 5, bit: 0 });
    expect(s.ili).toBe(true);
    expect(s.descriptors.map((d) => d.type)).toEqual([0x00, 0x02, 0x05]);
    expect(s.descriptors[2]!.data.toString('hex')).toBe('0020');
    expect(describeSense(s)).toBe('ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00)');
  });

  it('73h is deferred; an unknown descriptor type is kept raw', () => {
    const s = decodeSense(hb('73 06 3f 0e 000000 04 80 02 abcd'));
    expect(s).toMatchObject({ current: false, senseKey: 6, asc: 0x3f, ascq: 0x0e });
    expect(s.descriptors).toEqual([{ type: 0x80, data: hb('abcd') }]);
    expect(describeSense(s)).toBe('UNIT ATTENTION: REPORTED LUNS DATA HAS CHANGED (0x3f/0x0e) [deferred error]');
  });

  it('a descriptor overrunning the sense data stops the walk and marks it truncated', () => {
    const s = decodeSense(DESCRIPTORS.subarray(0, 8 + 12 + 4));
    expect(s.truncated).toBe(true);
    expect(s.descriptors.map((d) => d.type)).toEqual([0x00]);
    expect(s.asc).toBe(0x24);
  });

  it('2 bytes give the sense key only', () => {
    expect(decodeSense(hb('72 03'))).toMatchObject({ senseKey: 3, asc: 0, ascq: 0, truncated: true });
  });
});

describe('senseFromResponseData — RFC 7143 §11.4.7.2 SenseLength prefix', () => {
  it('reads the 2-byte SenseLength then the sense data', () => {
    const data = Buffer.concat([hb('0012'), LBA_OUT_OF_RANGE]);
    expect(senseFromResponseData(data)).toMatchObject({ senseKey: 5, asc: 0x21, truncated: false });
  });

  it('ignores response data after the sense', () => {
    const data = Buffer.concat([hb('0012'), LBA_OUT_OF_RANGE, hb('deadbeef')]);
    expect(senseFromResponseData(data)).toMatchObject({ asc: 0x21, truncated: false });
  });

  it('no data segment or SenseLength 0 → undefined', () => {
    expect(senseFromResponseData(Buffer.alloc(0))).toBeUndefined();
    expect(senseFromResponseData(hb('0000'))).toBeUndefined();
  });

  it('a SenseLength longer than the segment decodes what is there, marked truncated', () => {
    const data = Buffer.concat([hb('0040'), LBA_OUT_OF_RANGE]);
    expect(senseFromResponseData(data)).toMatchObject({ asc: 0x21, truncated: true });
  });

  it('a 1-byte segment is bad data', () => {
    badData(() => senseFromResponseData(hb('00')));
  });
});

describe('names — SPC-4 §4.5.6 tables 48 and 49, SAM-5 §5.3.1', () => {
  it('sense keys', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 0xa, 0xb, 0xd, 0xe].map(senseKeyName)).toEqual([
      'NO SENSE',
      'RECOVERED ERROR',
      'NOT READY',
      'MEDIUM ERROR',
      'HARDWARE ERROR',
      'ILLEGAL REQUEST',
      'UNIT ATTENTION',
      'DATA PROTECT',
      'BLANK CHECK',
      'COPY ABORTED',
      'ABORTED COMMAND',
      'VOLUME OVERFLOW',
      'MISCOMPARE',
    ]);
    expect(senseKeyName(0x10)).toBe('SENSE KEY 0x10');
  });

  it('the ASC/ASCQ pairs an initiator meets most', () => {
    const expected: Array<[number, number, string]> = [
      [0x04, 0x00, 'LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE'],
      [0x04, 0x01, 'LOGICAL UNIT IS IN PROCESS OF BECOMING READY'],
      [0x04, 0x02, 'LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED'],
      [0x04, 0x0a, 'LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION'],
      [0x04, 0x0b, 'LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE'],
      [0x04, 0x0c, 'LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE'],
      [0x0c, 0x00, 'WRITE ERROR'],
      [0x11, 0x00, 'UNRECOVERED READ ERROR'],
      [0x20, 0x00, 'INVALID COMMAND OPERATION CODE'],
      [0x21, 0x00, 'LOGICAL BLOCK ADDRESS OUT OF RANGE'],
      [0x24, 0x00, 'INVALID FIELD IN CDB'],
      [0x25, 0x00, 'LOGICAL UNIT NOT SUPPORTED'],
      [0x26, 0x00, 'INVALID FIELD IN PARAMETER LIST'],
      [0x27, 0x00, 'WRITE PROTECTED'],
      [0x28, 0x00, 'NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED'],
      [0x29, 0x00, 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED'],
      [0x29, 0x01, 'POWER ON OCCURRED'],
      [0x29, 0x02, 'SCSI BUS RESET OCCURRED'],
      [0x29, 0x03, 'BUS DEVICE RESET FUNCTION OCCURRED'],
      [0x29, 0x04, 'DEVICE INTERNAL RESET'],
      [0x29, 0x05, 'TRANSCEIVER MODE CHANGED TO SINGLE-ENDED'],
      [0x29, 0x06, 'TRANSCEIVER MODE CHANGED TO LVD'],
      [0x29, 0x07, 'I_T NEXUS LOSS OCCURRED'],
      [0x2a, 0x01, 'MODE PARAMETERS CHANGED'],
      [0x2a, 0x09, 'CAPACITY DATA HAS CHANGED'],
      [0x3a, 0x00, 'MEDIUM NOT PRESENT'],
      [0x3e, 0x01, 'LOGICAL UNIT FAILURE'],
      [0x3e, 0x02, 'TIMEOUT ON LOGICAL UNIT'],
      [0x3f, 0x0e, 'REPORTED LUNS DATA HAS CHANGED'],
      [0x44, 0x00, 'INTERNAL TARGET FAILURE'],
      [0x47, 0x00, 'SCSI PARITY ERROR'],
      [0x55, 0x03, 'INSUFFICIENT RESOURCES'],
    ];
    for (const [asc, ascq, name] of expected) expect(ascqName(asc, ascq), `${asc}/${ascq}`).toBe(name);
  });

  it('parameterised pairs name their NN; unknown pairs are undefined and described by number', () => {
    expect(ascqName(0x40, 0x85)).toBe('DIAGNOSTIC FAILURE ON COMPONENT 85H');
    expect(ascqName(0x4d, 0x1f)).toBe('TAGGED OVERLAPPED COMMANDS (TASK TAG 1FH)');
    expect(ascqName(0x99, 0x01)).toBeUndefined();
    expect(ascqName(0x40, 0x05)).toBeUndefined();
    expect(describeSense(decodeSense(hb('70 00 05 00000000 0a 00000000 99 01 00 000000')))).toBe(
      'ILLEGAL REQUEST: ADDITIONAL SENSE CODE (0x99/0x01)',
    );
  });

  it('SCSI status names (SAM-5 §5.3.1)', () => {
    expect(
      [0x00, 0x02, 0x04, 0x08, 0x18, 0x28, 0x30, 0x40].map(scsiStatusName),
    ).toEqual(['GOOD', 'CHECK CONDITION', 'CONDITION MET', 'BUSY', 'RESERVATION CONFLICT', 'TASK SET FULL', 'ACA ACTIVE', 'TASK ABORTED']);
    expect(scsiStatusName(0x22)).toBe('STATUS 0x22');
    expect(ScsiStatus.CheckCondition).toBe(0x02);
  });

  it('scsiErrorFromSense carries status, key, ASC and ASCQ', () => {
    const e = scsiErrorFromSense(decodeSense(LBA_OUT_OF_RANGE));
    expect(e).toBeInstanceOf(ScsiError);
    expect(e.toJSON()).toMatchObject({ code: 'ISCSI_SCSI_CHECK_CONDITION', status: 2, senseKey: 5, asc: 0x21, ascq: 0 });
    expect(e.message).toBe('ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)');
  });
});
