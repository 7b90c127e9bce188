export declare const available: boolean;
export interface NativePeerCredentials {
  readonly uid: number;
  readonly gid: number;
  readonly pid?: number;
}
export declare function peerCredentials(fd: number): NativePeerCredentials | undefined;
