// Checks a parsed template against what the generated code supports and what the template may see:
// the function allow-list and arities, variables (loop variables, `loop`, and JSON body keys only
// with parseAs: AsJson), body access, and size limits. Also records what the template uses, so the
// generated Lua buffers the body or keeps request headers only when needed.
import type { Expr, Node, Template } from "./ast.ts";
import { type Position, TemplateError } from "./errors.ts";
import { FUNCTIONS, isFunction, LOOP_PROPERTIES, NOT_AVAILABLE } from "./functions.ts";
import { DEFAULT_TEMPLATE_LIMITS, type TemplateLimits, templateLimits } from "./limits.ts";

export type Phase = "request" | "response";
export type ParseAs = "AsString" | "AsJson" | "None";

export interface CheckOptions {
  phase: Phase;
  parseAs: ParseAs;
  /** Size and nesting caps (DEFAULT_TEMPLATE_LIMITS for what is not given). */
  limits?: Partial<TemplateLimits>;
}

export interface TemplateUses {
  /** Lower-cased names of request headers read with a literal name (request_header, and header in requests). */
  requestHeaders: Set<string>;
  /** request_header() with a computed name: every request header may be read. */
  allRequestHeaders: boolean;
  cookies: boolean;
  /** body() */
  body: boolean;
  /** context() or a JSON body variable. */
  json: boolean;
}

export function emptyUses(): TemplateUses {
  return { requestHeaders: new Set(), allRequestHeaders: false, cookies: false, body: false, json: false };
}

export function mergeUses(into: TemplateUses, from: TemplateUses): void {
  for (const h of from.requestHeaders) into.requestHeaders.add(h);
  into.allRequestHeaders ||= from.allRequestHeaders;
  into.cookies ||= from.cookies;
  into.body ||= from.body;
  into.json ||= from.json;
}

/** Fixed caps, and the defaults of the configurable ones (see TemplateLimits). */
export const LIMITS = Object.freeze({
  exprHeight: DEFAULT_TEMPLATE_LIMITS.maxExpressionDepth,
  temps: 100,
  loops: DEFAULT_TEMPLATE_LIMITS.maxLoops,
  listItems: 64,
  nodes: DEFAULT_TEMPLATE_LIMITS.maxElements,
  branches: 24,
});

interface Scope {
  loopVars: string[];
  inLoop: boolean;
}

const available = () => Object.keys(FUNCTIONS).join(", ");

class Checker {
  readonly uses = emptyUses();
  private temps = 0;
  private loops = 0;
  private nodes = 0;
  private readonly options: CheckOptions;
  private readonly limits: Readonly<TemplateLimits>;
  constructor(options: CheckOptions) {
    this.options = options;
    this.limits = templateLimits(options.limits);
  }

  private count(pos: Position): void {
    if (++this.nodes > this.limits.maxElements) {
      throw new TemplateError(
        "limit",
        pos,
        `template is too large (more than ${this.limits.maxElements} elements)`,
        "maxElements",
      );
    }
  }

  body(nodes: readonly Node[], scope: Scope): void {
    for (const n of nodes) {
      this.count(n.pos);
      switch (n.kind) {
        case "text":
          break;
        case "output":
          this.expr(n.expr, scope);
          break;
        case "if":
          if (n.branches.length > LIMITS.branches) {
            throw new TemplateError(
              "limit",
              n.pos,
              `more than ${LIMITS.branches} elif branches in one if block`,
            );
          }
          for (const b of n.branches) {
            this.expr(b.test, scope);
            this.body(b.body, scope);
          }
          if (n.otherwise) this.body(n.otherwise, scope);
          break;
        case "for": {
          if (++this.loops > this.limits.maxLoops) {
            throw new TemplateError(
              "limit",
              n.pos,
              `more than ${this.limits.maxLoops} for loops in one template`,
              "maxLoops",
            );
          }
          if (isFunction(n.variable)) {
            throw new TemplateError(
              "syntax",
              n.pos,
              `loop variable ${JSON.stringify(n.variable)} shadows a function`,
            );
          }
          this.expr(n.iterable, scope);
          this.body(n.body, { loopVars: [...scope.loopVars, n.variable], inLoop: true });
          if (n.otherwise) this.body(n.otherwise, scope);
          break;
        }
      }
    }
  }

  expr(e: Expr, scope: Scope): number {
    this.count(e.pos);
    const height = 1 + this.children(e, scope);
    if (height > this.limits.maxExpressionDepth) {
      throw new TemplateError(
        "limit",
        e.pos,
        `expression nested more than ${this.limits.maxExpressionDepth} levels deep`,
        "maxExpressionDepth",
      );
    }
    return height;
  }

  private children(e: Expr, scope: Scope): number {
    switch (e.kind) {
      case "str":
      case "num":
      case "bool":
      case "none":
        return 0;
      case "list":
        if (e.items.length > LIMITS.listItems) {
          throw new TemplateError("limit", e.pos, `list literal with more than ${LIMITS.listItems} items`);
        }
        return Math.max(0, ...e.items.map((i) => this.expr(i, scope)));
      case "var":
        this.variable(e.name, e.pos, scope);
        return 0;
      case "attr":
        if (
          e.object.kind === "var" &&
          e.object.name === "loop" &&
          scope.inLoop &&
          !scope.loopVars.includes("loop")
        ) {
          if (!LOOP_PROPERTIES.has(e.name)) {
            throw new TemplateError(
              "unsupported",
              e.pos,
              `loop.${e.name} is not supported; available: ${[...LOOP_PROPERTIES].map((p) => `loop.${p}`).join(", ")}`,
            );
          }
          return 1;
        }
        return this.expr(e.object, scope);
      case "index":
        return Math.max(this.expr(e.object, scope), this.expr(e.index, scope));
      case "call":
        return this.call(e, scope);
      case "unary":
        return this.expr(e.operand, scope);
      case "binary":
        if (e.op === "and" || e.op === "or") this.temp(e.pos);
        return Math.max(this.expr(e.left, scope), this.expr(e.right, scope));
      case "cond":
        this.temp(e.pos);
        return Math.max(
          this.expr(e.test, scope),
          this.expr(e.consequent, scope),
          e.otherwise ? this.expr(e.otherwise, scope) : 0,
        );
    }
  }

  private temp(pos: Position): void {
    if (++this.temps > LIMITS.temps) {
      throw new TemplateError(
        "limit",
        pos,
        `more than ${LIMITS.temps} and/or/if expressions in one template`,
      );
    }
  }

  private variable(name: string, pos: Position, scope: Scope): void {
    if (scope.loopVars.includes(name)) return;
    if (name === "loop" && scope.inLoop) {
      throw new TemplateError(
        "unsupported",
        pos,
        "use a property of loop (e.g. loop.index), not loop itself",
      );
    }
    if (this.options.parseAs === "AsJson") {
      this.uses.json = true;
      return;
    }
    if (isFunction(name)) {
      throw new TemplateError("syntax", pos, `${name} is a function: call it as ${FUNCTIONS[name]?.summary}`);
    }
    throw new TemplateError(
      "unknown-variable",
      pos,
      `unknown variable ${JSON.stringify(name)}; JSON body fields are variables only with body.parseAs: AsJson`,
    );
  }

  private call(e: Expr & { kind: "call" }, scope: Scope): number {
    const spec = isFunction(e.callee) ? FUNCTIONS[e.callee] : undefined;
    if (!spec) {
      if (scope.loopVars.includes(e.callee)) {
        throw new TemplateError(
          "syntax",
          e.pos,
          `${JSON.stringify(e.callee)} is a loop variable, not a function`,
        );
      }
      throw new TemplateError(
        NOT_AVAILABLE.has(e.callee) ? "unsupported" : "unknown-function",
        e.pos,
        NOT_AVAILABLE.has(e.callee)
          ? `function ${e.callee}() is not available in kgateway's template language (v2.2+); available: ${available()}`
          : `unknown function ${JSON.stringify(e.callee)}; available: ${available()}`,
      );
    }
    const n = e.args.length;
    if (n < spec.minArgs || n > spec.maxArgs) {
      const want = spec.minArgs === spec.maxArgs ? `${spec.minArgs}` : `${spec.minArgs} to ${spec.maxArgs}`;
      throw new TemplateError(
        "arity",
        e.pos,
        `${e.callee}() takes ${want} argument${spec.maxArgs === 1 ? "" : "s"}, got ${n}: ${spec.summary}`,
      );
    }
    const literal = e.args[0]?.kind === "str" ? e.args[0].value.toLowerCase() : undefined;
    switch (e.callee) {
      case "header":
        if (this.options.phase === "request") {
          if (literal !== undefined) this.uses.requestHeaders.add(literal);
          else this.uses.allRequestHeaders = true;
        }
        break;
      case "request_header":
        if (literal !== undefined) this.uses.requestHeaders.add(literal);
        else this.uses.allRequestHeaders = true;
        break;
      case "get_cookie":
      case "get_cookie_i":
        this.uses.cookies = true;
        this.uses.requestHeaders.add("cookie");
        break;
      case "body":
        if (this.options.parseAs === "None") {
          throw new TemplateError(
            "unavailable",
            e.pos,
            "body() needs the body, but body.parseAs is None (use AsString or AsJson)",
          );
        }
        this.uses.body = true;
        break;
      case "context":
        if (this.options.parseAs !== "AsJson") {
          throw new TemplateError("unavailable", e.pos, "context() needs body.parseAs: AsJson");
        }
        this.uses.json = true;
        break;
    }
    return Math.max(0, ...e.args.map((a) => this.expr(a, scope)));
  }
}

/** Throws a TemplateError for the first problem; returns what the template uses. */
export function check(template: Template, options: CheckOptions): TemplateUses {
  const c = new Checker(options);
  c.body(template.body, { loopVars: [], inLoop: false });
  return c.uses;
}
