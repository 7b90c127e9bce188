export declare const available: boolean;
export interface NativePeerCredentials {
  readonly uid: number;
  readonly gid: number;
  readonly pid?: number;
}
export declare function peerCredentials(fd: number): NativePeerCredentials | undefined;
/** flock(2) LOCK_EX/LOCK_SH, with LOCK_NB when `nonBlocking`: true when taken, false when held elsewhere (EWOULDBLOCK). */
export declare function flock(fd: number, exclusive: boolean, nonBlocking: boolean): boolean;
