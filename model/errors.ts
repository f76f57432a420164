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
  // string, not the literal: the failures below are input errors of their own kind
  override readonly name: string = 'ModelInputError';
}

/** A text prompt for a checkpoint without tokenizer.json: it takes token ids only. */
export class NoTokenizerError extends ModelInputError {
  override readonly name = 'NoTokenizerError';
  constructor() {
    super('this checkpoint has no tokenizer.json: give token ids');
  }
}

/** Chat messages for a tokenizer whose checkpoint has no chat template. */
export class NoChatTemplateError extends ModelInputError {
  override readonly name = 'NoChatTemplateError';
}

/** Chat messages the checkpoint's chat template refuses (its raise_exception) or cannot render. */
export class ChatTemplateError extends ModelInputError {
  override readonly name = 'ChatTemplateError';
}

/** A generation its caller aborted (its AbortSignal); `cause` is the signal's reason. */
export class GenerationCancelledError extends Error {
  override readonly name = 'GenerationCancelledError';
}

/** A quantization that cannot be made: an unknown name, or a weight that is not the shape it claims. */
export class QuantizationError extends Error {
  override readonly name = 'QuantizationError';
}

/** A window's scores that do not line up with its tokens (a gate that does not answer prompt_logprobs, say). */
export class WindowScoreError extends Error {
  override readonly name = 'WindowScoreError';
}
