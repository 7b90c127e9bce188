// The daemon's results as the RPC contract defines them (docs/api.md); the CLI only reads them.
export type { InitiatorInfo, LunInfo as Lun, SessionDetails, SessionInfo, SessionState, SessionStats } from '@iscsi-initiator/core/rpc';
