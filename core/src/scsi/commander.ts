/**
 * What the SCSI helpers need of a session: run a CDB on a LUN and get the data back on GOOD status (a session's
 * `command()` fits as is). Defined here so the SCSI module stays free of iSCSI.
 */
export interface ScsiCommander {
  command(request: { readonly lun: number; readonly cdb: Buffer; readonly readLength?: number | undefined }): Promise<{ readonly data: Buffer }>;
}
