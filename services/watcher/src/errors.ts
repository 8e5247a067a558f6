import { WaymarkError } from "@waymark/api";

/** The source cannot be read at all (e.g. the directory does not exist). */
export class SourceError extends WaymarkError {
  constructor(message: string, options?: ErrorOptions) {
    super("source-unavailable", message, options);
    this.name = "SourceError";
  }
}
