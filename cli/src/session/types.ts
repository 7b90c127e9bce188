// The daemon's results as core defines them (docs/api.md); the CLI only reads them.
import type { NodeDatabase } from '@iscsi-initiator/core';

export type { LunInfo as Lun, SessionDetails, SessionInfo, SessionState, SessionStats } from '@iscsi-initiator/core';

export type InitiatorInfo = ReturnType<NodeDatabase['initiator']>;
