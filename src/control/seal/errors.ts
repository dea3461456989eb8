import { VxmeshError } from '../../errors.js';

/** A keyring operation that cannot be done as asked (bad key length, unknown key, removing the primary). */
export class KeyringError extends VxmeshError {
  constructor(code: 'VXM_ERR_KEY_LENGTH' | 'VXM_ERR_KEY_NOT_FOUND' | 'VXM_ERR_KEY_PRIMARY' | 'VXM_ERR_KEYRING_EMPTY', message: string) {
    super(code, message);
    this.name = 'KeyringError';
  }
}

/** A Sealer misconfigured or asked to seal something it must not (never raised for bytes off the wire). */
export class SealError extends VxmeshError {
  constructor(code: 'VXM_ERR_SEAL_CONFIG' | 'VXM_ERR_SEAL_TOO_LARGE', message: string) {
    super(code, message);
    this.name = 'SealError';
  }
}
