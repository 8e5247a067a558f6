// @waymark/inja: kgateway's transformation template language (the MiniJinja dialect of kgateway
// 2.2+), parsed with positions, checked against the function table, and compiled to Lua for Envoy's
// built-in Lua filter. See lua/prelude.lua for the runtime the generated functions call.
import { readFileSync } from "node:fs";
import type { Template } from "./ast.ts";
import { type CheckOptions, check, type TemplateUses } from "./checker.ts";
import { TemplateError } from "./errors.ts";
import { luaTemplateFunction } from "./lua/codegen.ts";
import { parse } from "./parser.ts";

export type { BinaryOp, Expr, IfBranch, Node, Template, UnaryOp } from "./ast.ts";
export {
  type CheckOptions,
  check,
  emptyUses,
  LIMITS,
  mergeUses,
  type ParseAs,
  type Phase,
  type TemplateUses,
} from "./checker.ts";
export { type Position, TemplateError, type TemplateErrorCode } from "./errors.ts";
export {
  bytesOf,
  type EvalContext,
  evaluate,
  formatNumber,
  parseJsonBody,
  RenderError,
  textOf,
  type Value,
} from "./evaluator.ts";
export { FUNCTIONS, type FunctionSpec, NOT_AVAILABLE } from "./functions.ts";
export { DEFAULT_TEMPLATE_LIMITS, type TemplateLimits, templateLimits } from "./limits.ts";
export { luaTemplateFunction } from "./lua/codegen.ts";
export { luaByteString, luaBytes, luaNumber, luaString } from "./lua/literal.ts";
export { parse } from "./parser.ts";

/**
 * The Lua runtime the generated template functions need: defines the locals W (helpers), S (to
 * string), T (truthiness) and concat. Emit it once at the top of a chunk.
 */
export const LUA_PRELUDE: string = `${readFileSync(new URL("./lua/prelude.lua", import.meta.url), "utf8")}
local S, T, concat = W.str, W.truthy, table.concat
`;

export interface CompiledTemplate {
  source: string;
  ast: Template;
  uses: TemplateUses;
  /** `function(C) ... end` (see luaTemplateFunction). */
  lua: string;
}

/** Parses, checks and compiles one template; throws TemplateError with line and column. */
export function compileTemplate(source: string, options: CheckOptions): CompiledTemplate {
  const ast = parse(source, options.limits);
  const uses = check(ast, options);
  return { source, ast, uses, lua: luaTemplateFunction(ast) };
}

export type CompileResult = { ok: true; template: CompiledTemplate } | { ok: false; error: TemplateError };

/** compileTemplate without throwing for template errors. */
export function tryCompileTemplate(source: string, options: CheckOptions): CompileResult {
  try {
    return { ok: true, template: compileTemplate(source, options) };
  } catch (e) {
    if (e instanceof TemplateError) return { ok: false, error: e };
    throw e;
  }
}
