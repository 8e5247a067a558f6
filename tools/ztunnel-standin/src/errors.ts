import { WaymarkError } from "@waymark/api";

/** A PROXY protocol header cannot be built from these values. */
export class ProxyHeaderError extends WaymarkError {
  constructor(message: string) {
    super("invalid-proxy-header", message);
    this.name = "ProxyHeaderError";
  }
}

/** Bad command-line arguments. */
export class UsageError extends WaymarkError {
  constructor(message: string) {
    super("usage", message);
    this.name = "UsageError";
  }
}
