/** The SCSI module (SPC-4, SBC-3): CDB builders and decoders. Knows nothing about iSCSI PDUs. */
export * from './capacity.js';
export * from './cdb.js';
export * from './inquiry.js';
export * from './lun.js';
export * from './report-luns.js';
export * from './sense.js';
export * from './status.js';
export * from './vpd.js';
export * from './commander.js';
export * from './lun-scan.js';
export * from './flush.js';
