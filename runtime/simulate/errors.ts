// Failures of the simulator's inputs.

/** A cost profile, model, trace or experiment setting the simulator cannot run as given. */
export class SimulationInputError extends Error {
  override readonly name = 'SimulationInputError';
}
