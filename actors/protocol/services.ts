// The NATS micro service names every actor registers under, and the version they announce.
import { PACKAGE_VERSION } from '../../observability/version.js';

export const EXPERT_SERVICE = 'eaas-expert';
export const GATE_SERVICE = 'eaas-gate';
export const SUPERVISOR_SERVICE = 'eaas-supervisor';

/** The package's own version, which every service announces. */
export const SERVICE_VERSION = PACKAGE_VERSION;
