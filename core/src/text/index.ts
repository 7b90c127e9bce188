// iSCSI text keys (RFC 7143 §6, §12, §13): the key=value codec, the key table and operational negotiation.
export {
  NOT_UNDERSTOOD,
  IRRELEVANT,
  REJECT,
  NONE,
  RESERVED_ANSWERS,
  MAX_KEY_BYTES,
  MAX_SIMPLE_VALUE_BYTES,
  isValidKeyName,
  isExtensionKey,
  parseNumericalValue,
  parseBoolean,
  formatBoolean,
  splitList,
  type NumericRange,
} from './values.js';
export * from './keys.js';
export * from './text-codec.js';
export * from './negotiation.js';
