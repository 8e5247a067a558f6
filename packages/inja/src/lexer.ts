// Splits a template into text and tags ({{ }}, {% %}, {# #}) and tags into tokens, each with its
// line and column. Whitespace control: a "-" just inside a delimiter ({{- x -}}) strips the
// whitespace on that side of the tag. As in MiniJinja, a single trailing newline is dropped.
import { type Position, TemplateError } from "./errors.ts";
import { DEFAULT_TEMPLATE_LIMITS } from "./limits.ts";

export type TokenType = "name" | "string" | "number" | "op" | "end";

export interface Token {
  type: TokenType;
  /** For strings: the decoded value. For numbers: the source text. */
  value: string;
  pos: Position;
}

export type Piece =
  | { kind: "text"; pos: Position; value: string }
  | { kind: "output" | "statement"; pos: Position; tokens: Token[] };

/** Longest first. */
const OPERATORS = [
  "**",
  "//",
  "==",
  "!=",
  "<=",
  ">=",
  "+",
  "-",
  "*",
  "/",
  "%",
  "~",
  "<",
  ">",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ".",
  ",",
  ":",
  "|",
  "=",
];

class Cursor {
  readonly src: string;
  i = 0;
  private readonly lineStarts: number[] = [0];
  constructor(src: string) {
    this.src = src;
    for (let k = 0; k < src.length; k++) if (src[k] === "\n") this.lineStarts.push(k + 1);
  }
  posAt(index: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= index) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: index - (this.lineStarts[lo] ?? 0) + 1 };
  }
}

function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r";
}

const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_]/;

function readString(cur: Cursor): Token {
  const start = cur.i;
  const quote = cur.src[cur.i];
  cur.i++;
  let out = "";
  while (cur.i < cur.src.length) {
    const c = cur.src[cur.i] as string;
    if (c === quote) {
      cur.i++;
      return { type: "string", value: out, pos: cur.posAt(start) };
    }
    if (c === "\\") {
      const e = cur.src[cur.i + 1];
      const escapes: Record<string, string> = {
        n: "\n",
        t: "\t",
        r: "\r",
        "\\": "\\",
        '"': '"',
        "'": "'",
        "/": "/",
        b: "\b",
        f: "\f",
      };
      if (e !== undefined && escapes[e] !== undefined) {
        out += escapes[e];
        cur.i += 2;
        continue;
      }
      if (e === "u") {
        const hex = cur.src.slice(cur.i + 2, cur.i + 6);
        if (/^[0-9A-Fa-f]{4}$/.test(hex)) {
          out += String.fromCharCode(Number.parseInt(hex, 16));
          cur.i += 6;
          continue;
        }
      }
      throw new TemplateError("syntax", cur.posAt(cur.i), `invalid escape sequence in string literal`);
    }
    out += c;
    cur.i++;
  }
  throw new TemplateError("unterminated", cur.posAt(start), "unterminated string literal");
}

/** Tokens of one tag, up to (not including) its closing delimiter; cur.i ends after the delimiter. */
function readTag(
  cur: Cursor,
  close: "}}" | "%}",
  openPos: Position,
): { tokens: Token[]; trimAfter: boolean } {
  const tokens: Token[] = [];
  for (;;) {
    while (isSpace(cur.src[cur.i])) cur.i++;
    if (cur.i >= cur.src.length) {
      throw new TemplateError(
        "unterminated",
        openPos,
        `tag opened here is never closed with ${JSON.stringify(close)}`,
      );
    }
    const at = cur.i;
    if (cur.src.startsWith(`-${close}`, at)) {
      tokens.push({ type: "end", value: close, pos: cur.posAt(at) });
      cur.i += 3;
      return { tokens, trimAfter: true };
    }
    if (cur.src.startsWith(close, at)) {
      tokens.push({ type: "end", value: close, pos: cur.posAt(at) });
      cur.i += 2;
      return { tokens, trimAfter: false };
    }
    const c = cur.src[at] as string;
    if (c === '"' || c === "'") {
      tokens.push(readString(cur));
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(cur.src.slice(at, at + 400));
      const text = m?.[0] ?? c;
      if (NAME_PART.test(cur.src[at + text.length] ?? "")) {
        throw new TemplateError("syntax", cur.posAt(at), `invalid number literal`);
      }
      tokens.push({ type: "number", value: text, pos: cur.posAt(at) });
      cur.i += text.length;
      continue;
    }
    if (NAME_START.test(c)) {
      let j = at + 1;
      while (j < cur.src.length && NAME_PART.test(cur.src[j] as string)) j++;
      tokens.push({ type: "name", value: cur.src.slice(at, j), pos: cur.posAt(at) });
      cur.i = j;
      continue;
    }
    const op = OPERATORS.find((o) => cur.src.startsWith(o, at));
    if (!op) throw new TemplateError("syntax", cur.posAt(at), `unexpected character ${JSON.stringify(c)}`);
    tokens.push({ type: "op", value: op, pos: cur.posAt(at) });
    cur.i += op.length;
  }
}

export function lex(source: string, maxLength: number = DEFAULT_TEMPLATE_LIMITS.maxLength): Piece[] {
  if (source.length > maxLength) {
    throw new TemplateError(
      "limit",
      { line: 1, column: 1 },
      `template is longer than ${maxLength} characters (it has ${source.length})`,
      "maxLength",
    );
  }
  const src = source.endsWith("\r\n")
    ? source.slice(0, -2)
    : source.endsWith("\n")
      ? source.slice(0, -1)
      : source;
  const cur = new Cursor(src);
  const pieces: Piece[] = [];
  let trimNext = false;
  const pushText = (from: number, to: number, trimEnd: boolean) => {
    let a = from;
    let b = to;
    if (trimNext) while (a < b && isSpace(src[a])) a++;
    trimNext = false;
    if (trimEnd) while (b > a && isSpace(src[b - 1])) b--;
    if (b > a) pieces.push({ kind: "text", pos: cur.posAt(a), value: src.slice(a, b) });
  };
  while (cur.i < src.length) {
    const textStart = cur.i;
    let open = -1;
    for (let k = cur.i; k < src.length - 1; k++) {
      if (src[k] === "{" && (src[k + 1] === "{" || src[k + 1] === "%" || src[k + 1] === "#")) {
        open = k;
        break;
      }
    }
    if (open < 0) {
      pushText(textStart, src.length, false);
      break;
    }
    const kind = src[open + 1];
    const trimBefore = src[open + 2] === "-";
    pushText(textStart, open, trimBefore);
    const openPos = cur.posAt(open);
    cur.i = open + (trimBefore ? 3 : 2);
    if (kind === "#") {
      const end = src.indexOf("#}", cur.i);
      if (end < 0) throw new TemplateError("unterminated", openPos, 'comment is never closed with "#}"');
      trimNext = src[end - 1] === "-";
      cur.i = end + 2;
      continue;
    }
    const { tokens, trimAfter } = readTag(cur, kind === "{" ? "}}" : "%}", openPos);
    pieces.push({ kind: kind === "{" ? "output" : "statement", pos: openPos, tokens });
    trimNext = trimAfter;
  }
  return pieces;
}
