/** What pure modules need from a logger; main wires it to the runner's log commands, tests to arrays. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warning() {} };
