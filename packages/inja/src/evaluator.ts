// Reference evaluator: renders a checked template in TypeScript with the same semantics as the
// generated Lua, for tests (differential checks against the Lua VM) and for tools. Strings are byte
// strings (one char per byte, 0-255), as in Lua: substring and base64 work on bytes.
import { WaymarkError } from "@waymark/api";
import type { Expr, Node, Template } from "./ast.ts";

export type Value = string | number | boolean | null | undefined | Value[] | Map<string, Value>;

export class RenderError extends WaymarkError {
  constructor(message: string) {
    super("template-render", message);
    this.name = "RenderError";
  }
}

export interface EvalContext {
  /** Headers of the message being transformed: lower-cased name → values (byte strings). */
  headers: ReadonlyMap<string, readonly string[]>;
  /** Request headers (for request_header and cookies); defaults to headers. */
  requestHeaders?: ReadonlyMap<string, readonly string[]>;
  body?: string;
  json?: Value;
  env?: (name: string) => string | undefined;
  random?: () => Uint8Array;
}

const fail = (m: string): never => {
  throw new RenderError(m);
};

/** UTF-8 text → byte string. */
export function bytesOf(s: string): string {
  return String.fromCharCode(...new TextEncoder().encode(s));
}

/** Byte string → text (invalid UTF-8 replaced). */
export function textOf(b: string): string {
  return new TextDecoder().decode(Uint8Array.from(b, (c) => c.charCodeAt(0)));
}

function kind(v: Value): string {
  if (v === undefined) return "undefined";
  if (v === null) return "none";
  if (Array.isArray(v)) return "array";
  if (v instanceof Map) return "map";
  return typeof v;
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) fail("number out of range");
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 53) return n === 0 ? "0" : n.toFixed(0);
  // C's %.14g
  const [mant, expPart] = n.toExponential(13).split("e");
  const exp = Number(expPart);
  if (exp < -4 || exp >= 14) {
    const m = (mant ?? "").replace(/\.?0+$/, "");
    return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return n.toFixed(13 - exp).replace(/\.?0+$/, "");
}

function jsonEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (c === 10) out += "\\n";
    else if (c === 13) out += "\\r";
    else if (c === 9) out += "\\t";
    else if (c === 8) out += "\\b";
    else if (c === 12) out += "\\f";
    else if (c < 32) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return out;
}

function repr(v: Value): string {
  if (typeof v === "string") return `"${jsonEscape(v)}"`;
  if (Array.isArray(v)) return `[${v.map(repr).join(", ")}]`;
  if (v instanceof Map) {
    const keys = [...v.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${repr(k)}: ${repr(v.get(k))}`).join(", ")}}`;
  }
  return str(v);
}

export function str(v: Value): string {
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v === undefined) return "";
  if (v === null) return "none";
  return repr(v);
}

function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === "" || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  return true;
}

function eq(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => eq(x, b[i]));
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, x] of a) if (!b.has(k) || !eq(x, b.get(k))) return false;
    return true;
  }
  return false;
}

function compare(a: Value, b: Value): void {
  if ((typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string"))
    return;
  fail(`cannot compare ${kind(a)} with ${kind(b)}`);
}

function nums(a: Value, b: Value, op: string): [number, number] {
  if (typeof a !== "number" || typeof b !== "number") fail(`cannot apply ${op} to ${kind(a)} and ${kind(b)}`);
  return [a as number, b as number];
}

function argStr(v: Value, fname: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatNumber(v);
  return fail(`${fname}() expects a string, got ${kind(v)}`);
}

function argCount(v: Value, fname: string, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 2 ** 53) {
    fail(`${fname}() expects a non-negative integer ${what}, got ${str(v)}`);
  }
  return v as number;
}

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function b64encode(s: string, alphabet: string, pad: boolean): string {
  let out = "";
  let i = 0;
  for (; i + 2 < s.length; i += 3) {
    const v = (s.charCodeAt(i) << 16) | (s.charCodeAt(i + 1) << 8) | s.charCodeAt(i + 2);
    out += alphabet[v >> 18]! + alphabet[(v >> 12) & 63]! + alphabet[(v >> 6) & 63]! + alphabet[v & 63]!;
  }
  const rest = s.length - i;
  if (rest === 1) {
    const v = s.charCodeAt(i) << 16;
    out += alphabet[v >> 18]! + alphabet[(v >> 12) & 63]! + (pad ? "==" : "");
  } else if (rest === 2) {
    const v = (s.charCodeAt(i) << 16) | (s.charCodeAt(i + 1) << 8);
    out += alphabet[v >> 18]! + alphabet[(v >> 12) & 63]! + alphabet[(v >> 6) & 63]! + (pad ? "=" : "");
  }
  return out;
}

function b64decode(s: string, alphabet: string): string | undefined {
  let len = s.length;
  if (len % 4 === 0 && len > 0) {
    if (s.endsWith("==")) len -= 2;
    else if (s.endsWith("=")) len -= 1;
  }
  if (len % 4 === 1) return undefined;
  let out = "";
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const v = alphabet.indexOf(s[i]!);
    if (v < 0 || s[i] === "=") return undefined;
    acc = acc * 64 + v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const p = 2 ** bits;
      const byte = Math.floor(acc / p);
      acc -= byte * p;
      out += String.fromCharCode(byte);
    }
  }
  return acc === 0 ? out : undefined;
}

function validUtf8(s: string): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(s, (c) => c.charCodeAt(0)));
    return true;
  } catch {
    return false;
  }
}

function decodeText(s: string, alphabet: string): string {
  const d = b64decode(s, alphabet);
  return d !== undefined && validUtf8(d) ? d : "";
}

function replaceAll(s: string, pat: string, rep: string): string {
  return pat === "" ? s : s.split(pat).join(rep);
}

function headerGet(h: ReadonlyMap<string, readonly string[]>, name: string, sep = ", "): string {
  return (h.get(name.toLowerCase()) ?? []).join(sep);
}

function cookie(ctx: EvalContext, name: string, fold: boolean): string {
  const header = headerGet(ctx.requestHeaders ?? ctx.headers, "cookie", "; ");
  const want = fold ? name.toLowerCase() : name;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    let k = part.slice(0, i).replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, "");
    if (fold) k = k.toLowerCase();
    if (k === want) return part.slice(i + 1).replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, "");
  }
  return "";
}

function get(o: Value, k: Value): Value {
  if (o === undefined) fail("cannot read an attribute of an undefined value");
  if (Array.isArray(o)) {
    if (typeof k !== "number" || !Number.isInteger(k)) return undefined;
    const i = k < 0 ? o.length + k : k;
    return i >= 0 && i < o.length ? o[i] : undefined;
  }
  if (o instanceof Map) return typeof k === "string" ? o.get(k) : undefined;
  return undefined;
}

interface Scope {
  vars: Map<string, Value>;
  loop?: { index: number; count: number };
}

class Evaluator {
  private readonly ctx: EvalContext;
  constructor(ctx: EvalContext) {
    this.ctx = ctx;
  }

  call(name: string, args: Value[]): Value {
    const c = this.ctx;
    switch (name) {
      case "header":
        return headerGet(c.headers, argStr(args[0], name));
      case "request_header":
        return headerGet(c.requestHeaders ?? c.headers, argStr(args[0], name));
      case "get_cookie":
        return cookie(c, argStr(args[0], name), false);
      case "get_cookie_i":
        return cookie(c, argStr(args[0], name), true);
      case "body":
        return c.body ?? "";
      case "context":
        return c.json;
      case "env":
        return c.env?.(argStr(args[0], name)) ?? "";
      case "substring": {
        const s = argStr(args[0], name);
        const start = argCount(args[1], name, "start");
        if (start >= s.length) return "";
        if (args.length > 2) {
          const len = argCount(args[2], name, "length");
          if (start + len <= s.length) return s.slice(start, start + len);
        }
        return s.slice(start);
      }
      case "base64_encode":
        return b64encode(argStr(args[0], name), STD, true);
      case "base64url_encode":
        return b64encode(argStr(args[0], name), URL, true);
      case "base64_decode":
        return decodeText(argStr(args[0], name), STD);
      case "base64url_decode":
        return decodeText(argStr(args[0], name), URL);
      case "replace_with_random": {
        const s = argStr(args[0], name);
        const pat = argStr(args[1], name);
        const bytes = c.random?.() ?? crypto.getRandomValues(new Uint8Array(16));
        return replaceAll(s, pat, b64encode(String.fromCharCode(...bytes), STD, false));
      }
      case "replace_with_string":
        return replaceAll(argStr(args[0], name), argStr(args[1], name), argStr(args[2], name));
      case "raw_string":
        return jsonEscape(argStr(args[0], name));
      default:
        return fail(`unknown function ${name}`);
    }
  }

  expr(e: Expr, scope: Scope): Value {
    switch (e.kind) {
      case "str":
        return bytesOf(e.value);
      case "num":
        return e.value;
      case "bool":
        return e.value;
      case "none":
        return null;
      case "list":
        return e.items.map((i) => {
          const v = this.expr(i, scope);
          return v === undefined ? null : v;
        });
      case "var":
        if (scope.vars.has(e.name)) return scope.vars.get(e.name);
        return this.ctx.json instanceof Map ? this.ctx.json.get(e.name) : undefined;
      case "attr":
        if (e.object.kind === "var" && e.object.name === "loop" && scope.loop && !scope.vars.has("loop")) {
          const { index, count } = scope.loop;
          const props: Record<string, Value> = {
            index,
            index0: index - 1,
            revindex: count - index + 1,
            revindex0: count - index,
            first: index === 1,
            last: index === count,
            length: count,
          };
          return props[e.name];
        }
        return get(this.expr(e.object, scope), bytesOf(e.name));
      case "index":
        return get(this.expr(e.object, scope), this.expr(e.index, scope));
      case "call":
        return this.call(
          e.callee,
          e.args.map((a) => this.expr(a, scope)),
        );
      case "unary": {
        const v = this.expr(e.operand, scope);
        if (e.op === "not") return !truthy(v);
        if (typeof v !== "number") fail(`cannot ${e.op === "-" ? "negate" : "apply unary + to"} ${kind(v)}`);
        return e.op === "-" ? -(v as number) : v;
      }
      case "binary": {
        if (e.op === "and") {
          const l = this.expr(e.left, scope);
          return truthy(l) ? this.expr(e.right, scope) : l;
        }
        if (e.op === "or") {
          const l = this.expr(e.left, scope);
          return truthy(l) ? l : this.expr(e.right, scope);
        }
        const a = this.expr(e.left, scope);
        const b = this.expr(e.right, scope);
        switch (e.op) {
          case "==":
            return eq(a, b);
          case "!=":
            return !eq(a, b);
          case "<":
            compare(a, b);
            return (a as number) < (b as number);
          case "<=":
            compare(a, b);
            return (a as number) <= (b as number);
          case ">":
            compare(a, b);
            return (a as number) > (b as number);
          case ">=":
            compare(a, b);
            return (a as number) >= (b as number);
          case "in":
          case "not in": {
            const r = contains(b, a);
            return e.op === "in" ? r : !r;
          }
          case "+":
            if (typeof a === "string" && typeof b === "string") return a + b;
            return nums(a, b, "+").reduce((x, y) => x + y);
          case "-": {
            const [x, y] = nums(a, b, "-");
            return x - y;
          }
          case "*": {
            const [x, y] = nums(a, b, "*");
            return x * y;
          }
          case "/": {
            const [x, y] = nums(a, b, "/");
            if (y === 0) fail("division by zero");
            return x / y;
          }
          case "//": {
            const [x, y] = nums(a, b, "//");
            if (y === 0) fail("division by zero");
            return Math.floor(x / y);
          }
          case "%": {
            const [x, y] = nums(a, b, "%");
            if (y === 0) fail("division by zero");
            return x - Math.floor(x / y) * y;
          }
          case "**": {
            const [x, y] = nums(a, b, "**");
            return x ** y;
          }
          case "~":
            return str(a) + str(b);
        }
        return fail(`operator ${e.op}`);
      }
      case "cond":
        if (truthy(this.expr(e.test, scope))) return this.expr(e.consequent, scope);
        return e.otherwise ? this.expr(e.otherwise, scope) : undefined;
    }
  }

  nodes(nodes: readonly Node[], scope: Scope, out: string[]): void {
    for (const n of nodes) {
      switch (n.kind) {
        case "text":
          out.push(bytesOf(n.value));
          break;
        case "output":
          out.push(str(this.expr(n.expr, scope)));
          break;
        case "if": {
          const b = n.branches.find((br) => truthy(this.expr(br.test, scope)));
          if (b) this.nodes(b.body, scope, out);
          else if (n.otherwise) this.nodes(n.otherwise, scope, out);
          break;
        }
        case "for": {
          const items = iterate(this.expr(n.iterable, scope));
          if (items.length === 0) {
            if (n.otherwise) this.nodes(n.otherwise, scope, out);
            break;
          }
          items.forEach((item, i) => {
            const vars = new Map(scope.vars);
            vars.set(n.variable, item);
            this.nodes(n.body, { vars, loop: { index: i + 1, count: items.length } }, out);
          });
          break;
        }
      }
    }
  }
}

function contains(container: Value, item: Value): boolean {
  if (typeof container === "string") {
    if (typeof item !== "string") fail(`'in' on a string needs a string, got ${kind(item)}`);
    return container.includes(item as string);
  }
  if (Array.isArray(container)) return container.some((x) => eq(x, item));
  if (container instanceof Map) return typeof item === "string" && container.has(item);
  return fail(`cannot use 'in' on ${kind(container)}`);
}

function iterate(v: Value): Value[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (v instanceof Map) return [...v.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return fail(`cannot iterate over ${kind(v)}`);
}

/** Renders to a byte string; throws RenderError on a render error. */
export function evaluate(template: Template, ctx: EvalContext): string {
  const out: string[] = [];
  new Evaluator(ctx).nodes(template.body, { vars: new Map() }, out);
  return out.join("");
}

/** JSON text (a byte string) → a Value, as the Lua decoder; throws RenderError when invalid. */
export function parseJsonBody(body: string): Value {
  let parsed: unknown;
  try {
    parsed = JSON.parse(textOf(body));
  } catch (e) {
    throw new RenderError(`json parsing error: ${(e as Error).message}`);
  }
  const convert = (x: unknown): Value => {
    if (typeof x === "string") return bytesOf(x);
    if (Array.isArray(x)) return x.map(convert);
    if (x !== null && typeof x === "object") {
      return new Map(Object.entries(x).map(([k, v]) => [bytesOf(k), convert(v)]));
    }
    return x as Value;
  };
  return convert(parsed);
}
