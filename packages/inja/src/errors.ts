// Template errors: a stable code, and the line and column (1-based) in the template where the problem
// is, so a TrafficPolicy status can point at it.
import { WaymarkError } from "@waymark/api";
import type { TemplateLimits } from "./limits.ts";

export interface Position {
  line: number;
  column: number;
}

/** The kind of template problem; the error's code is `template-<kind>`. */
export type TemplateErrorCode =
  | "syntax"
  | "unterminated"
  | "unsupported"
  | "unknown-function"
  | "unknown-variable"
  | "arity"
  | "unavailable"
  | "limit";

export class TemplateError extends WaymarkError {
  declare readonly code: `template-${TemplateErrorCode}`;
  readonly kind: TemplateErrorCode;
  readonly line: number;
  readonly column: number;
  /** The message without the position prefix. */
  readonly detail: string;
  /** For code "limit": the TemplateLimits setting that was exceeded, when it is one. */
  readonly limit: keyof TemplateLimits | undefined;
  constructor(kind: TemplateErrorCode, pos: Position, detail: string, limit?: keyof TemplateLimits) {
    super(`template-${kind}`, `line ${pos.line}, column ${pos.column}: ${detail}`);
    this.name = "TemplateError";
    this.kind = kind;
    this.line = pos.line;
    this.column = pos.column;
    this.detail = detail;
    this.limit = limit;
  }
}
