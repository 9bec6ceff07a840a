/**
 * An error that happened on this side of the socket (daemon not running, connection lost, version
 * mismatch). Never confused with a WireError, which is the daemon's answer.
 */
export class LocalError extends Error {
  constructor(
    message: string,
    readonly opts: { retryable?: boolean; exitCode?: number } = {},
  ) {
    super(message);
    this.name = 'LocalError';
  }
}
