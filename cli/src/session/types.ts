// The daemon's session results as docs/api.md describes them; the CLI only reads them, so fields are readonly.

export type SessionState = 'logging-in' | 'logged-in' | 'recovering' | 'failed' | 'logged-out';

export interface SessionInfo {
  readonly sid: number;
  readonly targetName: string;
  readonly portal: string;
  readonly portalGroupTag?: number;
  readonly state: SessionState;
  readonly reason: string;
  readonly tsih: number;
  readonly isid: string;
}

export interface Lun {
  readonly lun: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly serial: string | null;
  /** A decimal string from this daemon (no precision lost past 2^53); docs/api.md allows a number. */
  readonly sizeBytes: string | number;
  readonly blockLength: number;
}

export interface SessionStats {
  readonly sid: number;
  readonly commands: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly reconnects: number;
  readonly retriedCommands: number;
  readonly digestErrors: number;
  readonly timeouts: number;
  readonly at: string;
}

export interface SessionDetails extends SessionInfo {
  readonly parameters: Readonly<Record<string, string>>;
  readonly counters: Omit<SessionStats, 'sid' | 'at'>;
  readonly luns: readonly Lun[];
}

export interface InitiatorInfo {
  readonly name: string;
  readonly alias?: string;
}
