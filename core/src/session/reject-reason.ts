/** RFC 7143 §11.17.1 Reject reason codes, for messages. */
const REASONS: Readonly<Record<number, string>> = {
  0x02: 'data (payload) digest error',
  0x03: 'SNACK reject',
  0x04: 'protocol error',
  0x05: 'command not supported',
  0x06: 'immediate command reject',
  0x07: 'task in progress',
  0x08: 'invalid data ack',
  0x09: 'invalid PDU field',
  0x0a: 'long operation reject',
  0x0b: 'negotiation reset',
  0x0c: 'waiting for logout',
};

export function rejectReasonName(reason: number): string {
  return REASONS[reason] ?? 'reserved reason';
}
