// Errors of the model path: each names what failed and carries the cause.

/** A checkpoint file or directory that cannot be used as it is. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(readonly file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
  }
}

/** Input to the model that it cannot take (token ids, shapes). */
export class ModelInputError extends Error {
  override readonly name = 'ModelInputError';
}
