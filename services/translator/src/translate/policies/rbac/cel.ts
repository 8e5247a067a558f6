// CEL for Envoy's CEL matcher: an expression is parsed here (@bufbuild/cel) and sent as its parsed AST
// (xds CelExpression.cel_expr_parsed), because Envoy 1.40 does not parse CEL text itself (a
// cel_expr_string alone is refused: "CEL expression not set"). Envoy builds the AST when the config
// arrives and refuses the whole resource when it calls a function it does not have, so before anything
// is sent the AST is checked against what Envoy 1.40 evaluates (tried one by one with
// `envoy --mode validate`; the golden case trafficpolicy-rbac keeps an expression using each):
//   - free variables: the attribute roots kgateway declares (request, source, destination, connection,
//     metadata), and the CEL type names (for `type(x) == string`);
//   - functions: CEL's operators, size, contains, startsWith, endsWith, matches, the conversions int,
//     uint, double, bytes, bool, timestamp, duration, dyn, type, and the timestamp getters — each only
//     with the arity and call style Envoy registers (string(), the string extensions, math.* are not);
//   - no comprehension: Envoy builds CEL with comprehensions off, so all, exists, exists_one, map and
//     filter are refused;
//   - no message construction (`Foo{...}`); map and list literals are fine;
//   - the expression as a whole may be a bool: a literal, list, map or arithmetic at the top is refused;
//   - at most MAX_CEL_DEPTH nested sub-expressions: each level is two nested messages in the config,
//     and protobuf decoders stop at 100 (ours when encoding the route configuration, Envoy's when it
//     unpacks the CEL matcher), so a deeper AST could not be sent at all. `a && b && c ...` and
//     `a || b || ...` chains are balanced by the parser and stay shallow.
import { parse } from "@bufbuild/cel";
import type { Expr } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import { ExprSchema } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import { type JsonObject, toJson } from "@bufbuild/protobuf";

/** The attribute roots an expression may name (kgateway's CEL environment for rbac). */
export const CEL_VARIABLES = ["request", "source", "destination", "connection", "metadata"] as const;
const VARIABLES = new Set<string>(CEL_VARIABLES);
const TYPE_NAMES = new Set([
  "bool",
  "int",
  "uint",
  "double",
  "string",
  "bytes",
  "list",
  "map",
  "null_type",
  "type",
]);

/** How a function may be called: `g<n>` as f(n args), `m<n>` as x.f(n args). */
type Style = `g${number}` | `m${number}`;
const BINARY = [
  "_==_",
  "_!=_",
  "_<_",
  "_<=_",
  "_>_",
  "_>=_",
  "_+_",
  "_-_",
  "_*_",
  "_/_",
  "_%_",
  "_[_]",
  "@in",
  "_&&_",
  "_||_",
];
const GETTERS = [
  "getFullYear",
  "getMonth",
  "getDate",
  "getDayOfMonth",
  "getDayOfWeek",
  "getDayOfYear",
  "getHours",
  "getMinutes",
  "getSeconds",
  "getMilliseconds",
];
const FUNCTIONS = new Map<string, readonly Style[]>([
  ...BINARY.map((f): [string, Style[]] => [f, ["g2"]]),
  ["!_", ["g1"]],
  ["-_", ["g1"]],
  ["_?_:_", ["g3"]],
  ["size", ["g1", "m0"]],
  ["contains", ["m1"]],
  ["startsWith", ["m1"]],
  ["endsWith", ["m1"]],
  ["matches", ["m1", "g2"]],
  ...["int", "uint", "double", "bytes", "bool", "timestamp", "duration", "dyn", "type"].map(
    (f): [string, Style[]] => [f, ["g1"]],
  ),
  ...GETTERS.map((f): [string, Style[]] => [f, ["m0", "m1"]]),
]);
/** Functions whose result is never a bool: refused at the top of an expression. */
const NOT_BOOL = new Set([
  "_+_",
  "_-_",
  "_*_",
  "_/_",
  "_%_",
  "-_",
  "size",
  "int",
  "uint",
  "double",
  "bytes",
  "timestamp",
  "duration",
  "type",
  ...GETTERS,
]);

/** The deepest nesting of sub-expressions sent (1: a lone literal or variable). */
export const MAX_CEL_DEPTH = 32;

export type CelCheck = { ok: true; expr: JsonObject } | { ok: false; message: string };

/** Parses and checks one expression; the AST as proto3 JSON (cel.expr.Expr), or why not. */
export function compileCel(source: string): CelCheck {
  let expr: Expr;
  try {
    expr = parse(source).expr;
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    // The parser names its input "<input>"; the path in the status already says which expression.
    return { ok: false, message: `does not parse: ${text.replaceAll("<input>:", "at ")}` };
  }
  const problems: string[] = [];
  walk(expr, problems, 1);
  if (problems.length === 0) {
    const top = topLevelKind(expr);
    if (top !== undefined) problems.push(`must evaluate to a bool, not ${top}`);
  }
  if (problems.length) return { ok: false, message: [...new Set(problems)].join("; ") };
  return { ok: true, expr: toJson(ExprSchema, expr) as JsonObject };
}

function walk(e: Expr, problems: string[], depth: number): void {
  if (depth > MAX_CEL_DEPTH) {
    problems.push(`nested more than ${MAX_CEL_DEPTH} levels deep (the most a route configuration carries)`);
    return;
  }
  const d = depth + 1;
  const k = e.exprKind;
  switch (k.case) {
    case "constExpr":
      return;
    case "identExpr":
      if (!VARIABLES.has(k.value.name) && !TYPE_NAMES.has(k.value.name))
        problems.push(`unknown variable ${k.value.name} (known: ${CEL_VARIABLES.join(", ")})`);
      return;
    case "selectExpr":
      if (k.value.operand) walk(k.value.operand, problems, d);
      return;
    case "callExpr": {
      const { function: name, target, args } = k.value;
      const style: Style = target ? `m${args.length}` : `g${args.length}`;
      const allowed = FUNCTIONS.get(name);
      if (!allowed) problems.push(`function ${name} is not available in Envoy's CEL`);
      else if (!allowed.includes(style))
        problems.push(
          `Envoy's CEL has no ${name} ${target ? "method" : "function"} taking ${args.length} argument${args.length === 1 ? "" : "s"}`,
        );
      if (target) walk(target, problems, d);
      for (const a of args) walk(a, problems, d);
      return;
    }
    case "listExpr":
      for (const x of k.value.elements) walk(x, problems, d);
      return;
    case "structExpr":
      if (k.value.messageName !== "")
        problems.push(`building a message (${k.value.messageName}{...}) is not supported`);
      // An entry is one more message between the map and its keys and values.
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === "mapKey") walk(entry.keyKind.value, problems, d + 1);
        if (entry.value) walk(entry.value, problems, d + 1);
      }
      return;
    case "comprehensionExpr":
      problems.push(
        "the macros that iterate (all, exists, exists_one, map, filter) are not supported: Envoy evaluates CEL without comprehensions",
      );
      return;
    default:
      problems.push("an empty expression");
  }
}

/** What the top of the expression is when it can never be a bool. */
function topLevelKind(e: Expr): string | undefined {
  const k = e.exprKind;
  if (k.case === "constExpr") return k.value.constantKind.case === "boolValue" ? undefined : "a literal";
  if (k.case === "listExpr") return "a list";
  if (k.case === "structExpr") return "a map";
  if (k.case === "callExpr" && NOT_BOOL.has(k.value.function)) return `the result of ${k.value.function}`;
  return undefined;
}
