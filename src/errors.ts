// One base class with a stable `code` per condition the caller should handle, as undici's
// lib/core/errors.js does. Codes are the API; messages may change. Messages are sentence
// case, no trailing period, and say what to do.

export class VxmeshError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VxmeshError';
    this.code = code;
  }
}

/** A config file or API request that cannot be used as it is. */
export class ConfigError extends VxmeshError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('VXM_ERR_CONFIG', `${path}: ${message}`);
    this.name = 'ConfigError';
    this.path = path;
  }
}

/** A table delta that contradicts the tables (duplicate address, unknown network ...). */
export class TableError extends VxmeshError {
  constructor(code: 'VXM_ERR_DUPLICATE' | 'VXM_ERR_NOT_FOUND' | 'VXM_ERR_TABLE_FULL', message: string) {
    super(code, message);
    this.name = 'TableError';
  }
}

/** A host-side setup step (ip, netns, TUN) that failed; `cause` holds the system error. */
export class SetupError extends VxmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('VXM_ERR_SETUP', message, options);
    this.name = 'SetupError';
  }
}
