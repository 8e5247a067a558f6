// The caps on one template, as settings: what a TrafficPolicy author may write is bounded in size and
// nesting, so a hostile template cannot make the compiler or the generated Lua do unbounded work.

export interface TemplateLimits {
  /** Characters in one template. */
  maxLength: number;
  /** Nesting of one expression (parentheses, calls, operators). */
  maxExpressionDepth: number;
  /** Nesting of `{% if %}` / `{% for %}` blocks: the render depth. */
  maxBlockDepth: number;
  /** `{% for %}` loops in one template (each runs over a header list, a JSON array or map). */
  maxLoops: number;
  /** Elements (text, output and block nodes) in one template. */
  maxElements: number;
}

export const DEFAULT_TEMPLATE_LIMITS: Readonly<TemplateLimits> = Object.freeze({
  maxLength: 65536,
  maxExpressionDepth: 32,
  maxBlockDepth: 16,
  maxLoops: 16,
  maxElements: 4000,
});

/** The defaults with the given overrides. */
export function templateLimits(overrides: Partial<TemplateLimits> | undefined): Readonly<TemplateLimits> {
  return overrides ? { ...DEFAULT_TEMPLATE_LIMITS, ...overrides } : DEFAULT_TEMPLATE_LIMITS;
}
