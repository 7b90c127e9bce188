import type { IscsiError } from '../errors.js';
import type { AsyncMessage } from '../pdu/types.js';
import type { Sense } from '../scsi/sense.js';

/** Where a session is in its life (ERL 0: a lost connection is replaced, the session and its commands stay). */
export type SessionState = 'logging-in' | 'logged-in' | 'recovering' | 'failed' | 'logged-out';

/** What a session tells its listeners; `closed` comes once, when the session has ended for good. */
export type SessionEvent =
  | { readonly type: 'state'; readonly state: SessionState; readonly reason: string; readonly error?: IscsiError | undefined }
  | { readonly type: 'async'; readonly message: AsyncMessage }
  | { readonly type: 'scsi-event'; readonly lun: number; readonly sense: Sense | undefined }
  | { readonly type: 'logout-requested'; readonly withinSeconds: number }
  | { readonly type: 'connection-drop'; readonly scope: 'connection' | 'session'; readonly time2Wait: number; readonly time2Retain: number }
  | { readonly type: 'renegotiate' }
  | { readonly type: 'unit-attention'; readonly lun: number; readonly sense: Sense }
  | { readonly type: 'command-timeout'; readonly itt: number; readonly lun: number; readonly opcode: number }
  | { readonly type: 'closed'; readonly error: IscsiError | undefined };
