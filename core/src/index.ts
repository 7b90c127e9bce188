export * from './errors.js';
export * from './pdu/types.js';
