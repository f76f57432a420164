// Failures of the emulated hosts (runtime/hosts).

/** A network namespace, link or shaping that the kernel or the `ip`/`tc` tools would not make. */
export class HostNetworkError extends Error {
  override readonly name = 'HostNetworkError';
}

/** An emulated host's nats-server or eaas node that did not come up. */
export class HostStartError extends Error {
  override readonly name = 'HostStartError';
}
