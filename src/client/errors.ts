/**
 * Errors the client throws before anything starts.
 * @module
 */

/** The input was rejected before anything started (CLI exit code 2). */
export class InvalidInputError extends Error {
  override readonly name: string = 'InvalidInputError';
}

/** The client's configuration (the `KUBE_WORKFLOWS_CONFIG` file it shares with the worker) cannot be used. */
export class ClientConfigError extends Error {
  override readonly name = 'ClientConfigError';
}

/**
 * A deploy (or a schedule's run) was refused because its lock — the workflow id `deploy/<cluster>/<namespace>/<app>`
 * — is held: by a running deploy of the same app, or by a scale of one of the app's workloads. Nothing was started.
 */
export class LockHeldError extends InvalidInputError {
  override readonly name = 'LockHeldError';
  constructor(
    message: string,
    /** The lock: the deploy's workflow id. */
    readonly lockId: string,
    /** Workflow id of the run that holds it (the running deploy itself, or the scale holding the lock). */
    readonly heldBy: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
