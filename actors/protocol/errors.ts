// Every failure an actor reports, one Error subclass each, and the one place that maps them to
// NATS service error codes (Nats-Service-Error-Code) and back.
import { ServiceError, type Msg, type MsgHdrs } from 'nats';
import { ModelInputError } from '../../model/errors.js';
import { CodecError } from '../../runtime/transport/errors.js';

/** A message that is not what its subject takes (wrong fields, shapes, counts). */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

/** A dispatch names an expert the instance does not host. */
export class ExpertNotHostedError extends Error {
  override readonly name = 'ExpertNotHostedError';
}

/** A request whose size alone is past what the actor takes (checked before any work). */
export class RequestTooLargeError extends Error {
  override readonly name = 'RequestTooLargeError';
}

/** An HTTP API request whose body or fields are not what the endpoint takes; `param` names the field. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  constructor(
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

/** A request names a model this front does not serve. */
export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
}

/** The actor holds all the work it may: try again shortly. */
export class OverCapacityError extends Error {
  override readonly name = 'OverCapacityError';
}

/** No live replica of these experts came up in time. */
export class NoReplicaError extends Error {
  override readonly name = 'NoReplicaError';
  constructor(
    readonly experts: string[],
    waitedMs: number,
  ) {
    super(`no live replica of expert${experts.length > 1 ? 's' : ''} ${experts.join(', ')} (layer:expert) within ${waitedMs} ms`);
  }
}

/** Why a dispatch to one instance failed: the redirect path acts on the reason, never on the message. */
export type DispatchFailure = 'no-responders' | 'timeout' | 'link-lost' | 'announced-down' | 'error-answer' | 'bad-answer';

/** An instance answered a dispatch with an error, or not at all. */
export class DispatchError extends Error {
  override readonly name = 'DispatchError';
  constructor(
    message: string,
    readonly reason: DispatchFailure,
    /** The service error code of an error answer. */
    readonly code?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The cluster could not answer a generate request. */
export class GenerateError extends Error {
  override readonly name = 'GenerateError';
  constructor(
    message: string,
    readonly code: number,
    options?: { cause?: unknown; missingExperts?: string[] },
  ) {
    super(message, options);
    this.missingExperts = options?.missingExperts ?? [];
  }
  /** With code 503: the experts without a live replica ("layer:expert"). */
  readonly missingExperts: string[];
}

/** A retire request that cannot be carried out. */
export class RetireError extends Error {
  override readonly name = 'RetireError';
}

/** A placement that cannot be made from the given numbers. */
export class PlacementError extends Error {
  override readonly name = 'PlacementError';
}

/** The placement bucket (JetStream KV) cannot be reached, does not exist, or holds a malformed record. */
export class PlacementStoreError extends Error {
  override readonly name = 'PlacementStoreError';
}

/** A supervision policy that is not valid. */
export class SupervisionConfigError extends Error {
  override readonly name = 'SupervisionConfigError';
}

/** Header that carries the missing experts of a NoReplicaError answer, so clients need not parse text. */
export const MISSING_EXPERTS_HEADER = 'Eaas-Missing-Experts';

/** The service error code an actor answers `err` with. */
export function serviceErrorCode(err: unknown): number {
  if (err instanceof MalformedMessageError || err instanceof CodecError || err instanceof ModelInputError || err instanceof InvalidRequestError) return 400;
  if (err instanceof ExpertNotHostedError || err instanceof RetireError || err instanceof ModelNotFoundError) return 404;
  if (err instanceof RequestTooLargeError) return 413;
  if (err instanceof OverCapacityError) return 429;
  if (err instanceof NoReplicaError) return 503;
  return 500;
}

/** Extra headers an error answer carries beside the code and description. */
export function serviceErrorHeaders(err: unknown, h: MsgHdrs): void {
  if (err instanceof NoReplicaError) h.set(MISSING_EXPERTS_HEADER, err.experts.join(','));
}

/** The error an answer carries, read with nats.js's ServiceError; null for a normal answer. */
export function answerError(msg: Msg): (ServiceError & { missingExperts: string[] }) | null {
  const e = ServiceError.toServiceError(msg);
  if (!e) return null;
  const missing = msg.headers?.get(MISSING_EXPERTS_HEADER) ?? '';
  return Object.assign(e, { missingExperts: missing ? missing.split(',') : [] });
}
