import { VxmeshError } from '../../../src/errors.js';

/**
 * A simulation harness misused the kit (an event scheduled in the past, a bad fault probability,
 * an unknown address where one is required). These are bugs in the harness, never outcomes of a
 * simulated run, so they throw instead of being counted.
 */
export class SimError extends VxmeshError {
  constructor(code: 'VXM_ERR_SIM_TIME' | 'VXM_ERR_SIM_CONFIG' | 'VXM_ERR_SIM_ADDR', message: string) {
    super(code, message);
    this.name = 'SimError';
  }
}
