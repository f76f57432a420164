// Every failure an actor reports, one Error subclass each, each carrying its NATS service error code
// (Nats-Service-Error-Code), and the one place that reads the code off an error and back off an answer.
import { ServiceError, type Msg, type MsgHdrs } from 'nats';
import { ModelInputError } from '../../model/errors.js';
import { CodecError } from '../../runtime/transport/errors.js';

/**
 * A failure an actor answers with a code of its own: the service error code, which the API front also answers as
 * the HTTP status (413 as 400). Named `serviceCode`, not `code`: OpenTelemetry's recordException takes an error's
 * `code` for the span's exception.type, which stays the class name.
 */
export abstract class CodedError extends Error {
  abstract readonly serviceCode: number;
}

/** A message that is not what its subject takes (wrong fields, shapes, counts). */
export class MalformedMessageError extends CodedError {
  override readonly name = 'MalformedMessageError';
  readonly serviceCode = 400;
}

/** A dispatch names an expert the instance does not host. */
export class ExpertNotHostedError extends CodedError {
  override readonly name = 'ExpertNotHostedError';
  readonly serviceCode = 404;
}

/** A request whose size alone is past what the actor takes (checked before any work). */
export class RequestTooLargeError extends CodedError {
  override readonly name = 'RequestTooLargeError';
  readonly serviceCode = 413;
}

/** An HTTP API request whose body or fields are not what the endpoint takes; `param` names the field. */
export class InvalidRequestError extends CodedError {
  override readonly name = 'InvalidRequestError';
  readonly serviceCode = 400;
  constructor(
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

/** A request names a model this front does not serve. */
export class ModelNotFoundError extends CodedError {
  override readonly name = 'ModelNotFoundError';
  readonly serviceCode = 404;
}

/** A gate asked to resume a stream it does not hold (ended long ago, or the gate restarted). */
export class UnknownStreamError extends CodedError {
  override readonly name = 'UnknownStreamError';
  readonly serviceCode = 404;
}

/** The actor holds all the work it may: try again shortly. */
export class OverCapacityError extends CodedError {
  override readonly name = 'OverCapacityError';
  readonly serviceCode = 429;
}

/** No live replica of these experts came up in time. */
export class NoReplicaError extends CodedError {
  override readonly name = 'NoReplicaError';
  readonly serviceCode = 503;
  constructor(
    readonly experts: string[],
    waitedMs: number,
  ) {
    super(`no live replica of expert${experts.length > 1 ? 's' : ''} ${experts.join(', ')} (layer:expert) within ${waitedMs} ms`);
  }
}

/** Why a dispatch to one instance failed: the redirect path acts on the reason, never on the message. */
export type DispatchFailure = 'no-responders' | 'timeout' | 'link-lost' | 'announced-down' | 'error-answer' | 'bad-answer';

/** An instance answered a dispatch with an error, or not at all. Not a CodedError: `code` is the instance's, an actor that fails on it answers 500. */
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

/** The cluster could not answer a generate request; `code` is the gate's answer's, or the client's own (499 cancelled, 502, 503 no gate, 504 timed out). */
export class GenerateError extends CodedError {
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
  get serviceCode(): number {
    return this.code;
  }
}

/** A retire request that cannot be carried out. */
export class RetireError extends CodedError {
  override readonly name = 'RetireError';
  readonly serviceCode = 404;
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

/**
 * The service error code an actor answers `err` with: its own for a CodedError; 400 for what the layers below
 * refuse as input (they know nothing of service codes, so their two errors are named here); 500 for anything else.
 */
export function serviceErrorCode(err: unknown): number {
  if (err instanceof CodedError) return err.serviceCode;
  if (err instanceof CodecError || err instanceof ModelInputError) return 400;
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
