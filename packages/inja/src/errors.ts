// Template errors: a stable code, and the line and column (1-based) in the template where the problem
// is, so a TrafficPolicy status can point at it.

export interface Position {
  line: number;
  column: number;
}

export type TemplateErrorCode =
  | "syntax"
  | "unterminated"
  | "unsupported"
  | "unknown-function"
  | "unknown-variable"
  | "arity"
  | "unavailable"
  | "limit";

export class TemplateError extends Error {
  readonly code: TemplateErrorCode;
  readonly line: number;
  readonly column: number;
  /** The message without the position prefix. */
  readonly detail: string;
  constructor(code: TemplateErrorCode, pos: Position, detail: string) {
    super(`line ${pos.line}, column ${pos.column}: ${detail}`);
    this.name = "TemplateError";
    this.code = code;
    this.line = pos.line;
    this.column = pos.column;
    this.detail = detail;
  }
}
