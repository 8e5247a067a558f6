/** Base of Waymark's typed errors: a stable `code` plus a message a user can act on. */
export class WaymarkError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WaymarkError";
    this.code = code;
  }
}

/** Invalid configuration at start-up: the process stops with this message. */
export class ConfigError extends WaymarkError {
  constructor(message: string) {
    super("invalid-config", message);
    this.name = "ConfigError";
  }
}
