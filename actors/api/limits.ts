// What the API front takes at once: requests in progress and body size.

/** Requests in progress past which the front answers 429 instead of queueing without bound. Env: EAAS_API_MAX_INFLIGHT. */
export const DEFAULT_MAX_INFLIGHT = 256;
/** A request body larger than this is refused before it is parsed. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
