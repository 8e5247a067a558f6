// Recursive-descent parser (precedence climbing for expressions) from lexer pieces to the typed AST.
// Only the dialect Waymark compiles is accepted; anything else fails here with its position.
//
// Expression precedence, lowest first (as Jinja): inline if, or, and, not, comparisons (== != < <=
// > >= in, not in), + -, ~, * / // %, unary + -, **, then postfix . [] ().
import type { BinaryOp, Expr, IfBranch, Node, Template } from "./ast.ts";
import { type Position, TemplateError } from "./errors.ts";
import { lex, type Token } from "./lexer.ts";
import { type TemplateLimits, templateLimits } from "./limits.ts";

const UNSUPPORTED_STATEMENTS: Record<string, string> = {
  set: "variable assignment ({% set %})",
  macro: "macros",
  call: "call blocks",
  filter: "filter blocks",
  include: "includes",
  import: "imports",
  from: "imports",
  extends: "template inheritance",
  block: "template inheritance",
  with: "with blocks",
  raw: "raw blocks",
  autoescape: "autoescape blocks",
  break: "loop control",
  continue: "loop control",
  do: "expression statements",
};

class TokenStream {
  private readonly tokens: Token[];
  private i = 0;
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }
  peek(offset = 0): Token {
    const t = this.tokens[Math.min(this.i + offset, this.tokens.length - 1)];
    if (!t) throw new Error("empty token stream");
    return t;
  }
  next(): Token {
    const t = this.peek();
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }
  isOp(value: string): boolean {
    const t = this.peek();
    return t.type === "op" && t.value === value;
  }
  isName(value: string): boolean {
    const t = this.peek();
    return t.type === "name" && t.value === value;
  }
  expectOp(value: string): Token {
    const t = this.next();
    if (t.type !== "op" || t.value !== value) throw unexpected(t, `expected ${JSON.stringify(value)}`);
    return t;
  }
  expectEnd(): void {
    const t = this.next();
    if (t.type !== "end") throw unexpected(t, "expected the end of the tag");
  }
}

function describe(t: Token): string {
  if (t.type === "end") return `end of tag ${JSON.stringify(t.value)}`;
  if (t.type === "string") return "a string literal";
  return JSON.stringify(t.value);
}

function unexpected(t: Token, what: string): TemplateError {
  if (t.type === "op" && t.value === "|") {
    return new TemplateError("unsupported", t.pos, "filters (|) are not supported; call a function instead");
  }
  if (t.type === "op" && t.value === "{") {
    return new TemplateError("unsupported", t.pos, "map literals are not supported");
  }
  return new TemplateError("syntax", t.pos, `${what}, found ${describe(t)}`);
}

const COMPARISON = new Set(["==", "!=", "<", "<=", ">", ">="]);

class ExprParser {
  private readonly ts: TokenStream;
  private depth = 0;
  private readonly maxDepth: number;
  constructor(ts: TokenStream, maxDepth: number) {
    this.ts = ts;
    this.maxDepth = maxDepth;
  }

  private enter(pos: Position): void {
    if (++this.depth > this.maxDepth) {
      throw new TemplateError(
        "limit",
        pos,
        `expression nested more than ${this.maxDepth} levels deep`,
        "maxExpressionDepth",
      );
    }
  }

  parse(): Expr {
    this.enter(this.ts.peek().pos);
    try {
      return this.inlineIf();
    } finally {
      this.depth--;
    }
  }

  /** A parse without the inline if (used in for-loop iterables, where "if" would be a loop filter). */
  parseNoIf(): Expr {
    this.enter(this.ts.peek().pos);
    try {
      return this.or();
    } finally {
      this.depth--;
    }
  }

  private inlineIf(): Expr {
    const value = this.or();
    if (!this.ts.isName("if")) return value;
    const pos = this.ts.next().pos;
    const test = this.or();
    let otherwise: Expr | undefined;
    if (this.ts.isName("else")) {
      this.ts.next();
      otherwise = this.parse();
    }
    return { kind: "cond", pos, test, consequent: value, otherwise };
  }

  private or(): Expr {
    let left = this.and();
    while (this.ts.isName("or")) {
      const pos = this.ts.next().pos;
      left = { kind: "binary", pos, op: "or", left, right: this.and() };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.ts.isName("and")) {
      const pos = this.ts.next().pos;
      left = { kind: "binary", pos, op: "and", left, right: this.not() };
    }
    return left;
  }

  private not(): Expr {
    if (this.ts.isName("not")) {
      const pos = this.ts.next().pos;
      this.enter(pos);
      try {
        return { kind: "unary", pos, op: "not", operand: this.not() };
      } finally {
        this.depth--;
      }
    }
    return this.compare();
  }

  private compare(): Expr {
    const left = this.additive();
    const t = this.ts.peek();
    let op: BinaryOp | undefined;
    if (t.type === "op" && COMPARISON.has(t.value)) op = t.value as BinaryOp;
    else if (t.type === "name" && t.value === "in") op = "in";
    else if (
      t.type === "name" &&
      t.value === "not" &&
      this.ts.peek(1).type === "name" &&
      this.ts.peek(1).value === "in"
    )
      op = "not in";
    else if (t.type === "name" && t.value === "is") {
      throw new TemplateError("unsupported", t.pos, "tests (is ...) are not supported");
    }
    if (!op) return left;
    this.ts.next();
    if (op === "not in") this.ts.next();
    const right = this.additive();
    const after = this.ts.peek();
    if (
      (after.type === "op" && COMPARISON.has(after.value)) ||
      (after.type === "name" && after.value === "in")
    ) {
      throw new TemplateError("unsupported", after.pos, "chained comparisons are not supported; use and");
    }
    return { kind: "binary", pos: t.pos, op, left, right };
  }

  private binaryLoop(next: () => Expr, ops: readonly string[]): Expr {
    let left = next();
    for (;;) {
      const t = this.ts.peek();
      if (t.type !== "op" || !ops.includes(t.value)) return left;
      this.ts.next();
      left = { kind: "binary", pos: t.pos, op: t.value as BinaryOp, left, right: next() };
    }
  }

  private additive(): Expr {
    return this.binaryLoop(() => this.concat(), ["+", "-"]);
  }

  private concat(): Expr {
    return this.binaryLoop(() => this.multiplicative(), ["~"]);
  }

  private multiplicative(): Expr {
    return this.binaryLoop(() => this.unary(), ["*", "/", "//", "%"]);
  }

  private unary(): Expr {
    const t = this.ts.peek();
    if (t.type === "op" && (t.value === "-" || t.value === "+")) {
      this.ts.next();
      this.enter(t.pos);
      try {
        return { kind: "unary", pos: t.pos, op: t.value, operand: this.unary() };
      } finally {
        this.depth--;
      }
    }
    return this.power();
  }

  private power(): Expr {
    let left = this.postfix();
    while (this.ts.isOp("**")) {
      const pos = this.ts.next().pos;
      left = { kind: "binary", pos, op: "**", left, right: this.unaryOperand() };
    }
    return left;
  }

  private unaryOperand(): Expr {
    const t = this.ts.peek();
    if (t.type === "op" && (t.value === "-" || t.value === "+")) {
      this.ts.next();
      return { kind: "unary", pos: t.pos, op: t.value, operand: this.unaryOperand() };
    }
    return this.postfix();
  }

  private postfix(): Expr {
    let e = this.primary();
    for (;;) {
      const t = this.ts.peek();
      if (t.type !== "op") return e;
      if (t.value === ".") {
        this.ts.next();
        const name = this.ts.next();
        if (name.type === "number") {
          throw new TemplateError(
            "unsupported",
            name.pos,
            `numeric attribute access (.${name.value}) is not supported; index with [${name.value}]`,
          );
        }
        if (name.type !== "name") throw unexpected(name, "expected an attribute name after '.'");
        e = { kind: "attr", pos: t.pos, object: e, name: name.value };
      } else if (t.value === "[") {
        this.ts.next();
        if (this.ts.isOp(":"))
          throw new TemplateError("unsupported", this.ts.peek().pos, "slices are not supported");
        const index = this.parse();
        if (this.ts.isOp(":"))
          throw new TemplateError("unsupported", this.ts.peek().pos, "slices are not supported");
        this.ts.expectOp("]");
        e = { kind: "index", pos: t.pos, object: e, index };
      } else if (t.value === "(") {
        if (e.kind !== "var") {
          throw new TemplateError("unsupported", t.pos, "only named functions can be called (no methods)");
        }
        this.ts.next();
        const args: Expr[] = [];
        if (!this.ts.isOp(")")) {
          for (;;) {
            const a = this.ts.peek();
            if (a.type === "name" && this.ts.peek(1).type === "op" && this.ts.peek(1).value === "=") {
              throw new TemplateError("unsupported", a.pos, "keyword arguments are not supported");
            }
            args.push(this.parse());
            if (this.ts.isOp(",")) {
              this.ts.next();
              continue;
            }
            break;
          }
        }
        this.ts.expectOp(")");
        e = { kind: "call", pos: e.pos, callee: e.name, args };
      } else {
        return e;
      }
    }
  }

  private primary(): Expr {
    const t = this.ts.next();
    switch (t.type) {
      case "string": {
        let value = t.value;
        // Adjacent string literals concatenate, as in Jinja.
        while (this.ts.peek().type === "string") value += this.ts.next().value;
        return { kind: "str", pos: t.pos, value };
      }
      case "number": {
        const value = Number(t.value);
        if (!Number.isFinite(value))
          throw new TemplateError("limit", t.pos, `number ${t.value} is out of range`);
        return { kind: "num", pos: t.pos, value };
      }
      case "name": {
        switch (t.value) {
          case "true":
          case "True":
            return { kind: "bool", pos: t.pos, value: true };
          case "false":
          case "False":
            return { kind: "bool", pos: t.pos, value: false };
          case "none":
          case "None":
            return { kind: "none", pos: t.pos };
          case "and":
          case "or":
          case "not":
          case "if":
          case "else":
          case "in":
          case "is":
            throw unexpected(t, "expected an expression");
          default:
            return { kind: "var", pos: t.pos, name: t.value };
        }
      }
      case "op": {
        if (t.value === "(") {
          const e = this.parse();
          if (this.ts.isOp(","))
            throw new TemplateError("unsupported", this.ts.peek().pos, "tuples are not supported");
          this.ts.expectOp(")");
          return e;
        }
        if (t.value === "[") {
          const items: Expr[] = [];
          while (!this.ts.isOp("]")) {
            items.push(this.parse());
            if (!this.ts.isOp(",")) break;
            this.ts.next();
          }
          this.ts.expectOp("]");
          return { kind: "list", pos: t.pos, items };
        }
        throw unexpected(t, "expected an expression");
      }
      default:
        throw unexpected(t, "expected an expression");
    }
  }
}

interface Frame {
  kind: "root" | "if" | "for";
  pos: Position;
  body: Node[];
  node?: Node;
}

function statementName(piece: { pos: Position; tokens: Token[] }): Token {
  const first = piece.tokens[0];
  if (first?.type !== "name") {
    throw new TemplateError("syntax", first?.pos ?? piece.pos, 'expected a statement name after "{%"');
  }
  return first;
}

export function parse(source: string, limits?: Partial<TemplateLimits>): Template {
  const { maxLength, maxExpressionDepth, maxBlockDepth } = templateLimits(limits);
  const expression = (ts: TokenStream) => new ExprParser(ts, maxExpressionDepth);
  const tooDeep = (pos: Position) =>
    new TemplateError("limit", pos, `blocks nested more than ${maxBlockDepth} levels deep`, "maxBlockDepth");
  const root: Frame = { kind: "root", pos: { line: 1, column: 1 }, body: [] };
  const stack: Frame[] = [root];
  const top = () => stack[stack.length - 1] as Frame;

  for (const piece of lex(source, maxLength)) {
    if (piece.kind === "text") {
      top().body.push({ kind: "text", pos: piece.pos, value: piece.value });
      continue;
    }
    const ts = new TokenStream(piece.tokens);
    if (piece.kind === "output") {
      if (ts.peek().type === "end") throw new TemplateError("syntax", piece.pos, "empty expression");
      const expr = expression(ts).parse();
      ts.expectEnd();
      top().body.push({ kind: "output", pos: piece.pos, expr });
      continue;
    }
    const name = statementName(piece);
    ts.next();
    const frame = top();
    switch (name.value) {
      case "if": {
        const test = expression(ts).parse();
        ts.expectEnd();
        const branch: IfBranch = { pos: piece.pos, test, body: [] };
        const node: Node = { kind: "if", pos: piece.pos, branches: [branch], otherwise: undefined };
        frame.body.push(node);
        if (stack.length > maxBlockDepth) throw tooDeep(piece.pos);
        stack.push({ kind: "if", pos: piece.pos, body: branch.body, node });
        break;
      }
      case "elif":
      case "else": {
        if (frame.kind === "root" || !frame.node) {
          throw new TemplateError("syntax", piece.pos, `{% ${name.value} %} outside of an if or for block`);
        }
        const node = frame.node;
        if (name.value === "elif") {
          if (node.kind !== "if")
            throw new TemplateError("syntax", piece.pos, "{% elif %} inside a for block");
          if (node.otherwise) throw new TemplateError("syntax", piece.pos, "{% elif %} after {% else %}");
          const test = expression(ts).parse();
          ts.expectEnd();
          const branch: IfBranch = { pos: piece.pos, test, body: [] };
          node.branches.push(branch);
          frame.body = branch.body;
        } else {
          if (ts.isName("if")) {
            throw new TemplateError(
              "unsupported",
              ts.peek().pos,
              '"else if" is not supported; use {% elif %}',
            );
          }
          ts.expectEnd();
          if ((node.kind === "if" || node.kind === "for") && node.otherwise) {
            throw new TemplateError("syntax", piece.pos, "a second {% else %} in the same block");
          }
          if (node.kind === "if" || node.kind === "for") {
            node.otherwise = [];
            frame.body = node.otherwise;
          }
        }
        break;
      }
      case "endif":
      case "endfor": {
        ts.expectEnd();
        const want = name.value === "endif" ? "if" : "for";
        if (frame.kind !== want) {
          throw new TemplateError(
            "syntax",
            piece.pos,
            frame.kind === "root"
              ? `{% ${name.value} %} without an open {% ${want} %}`
              : `{% ${name.value} %} closes the {% ${frame.kind} %} opened at line ${frame.pos.line}, column ${frame.pos.column}`,
          );
        }
        stack.pop();
        break;
      }
      case "for": {
        const v = ts.next();
        if (v.type !== "name") throw unexpected(v, "expected a loop variable name");
        if (ts.isOp(",")) {
          throw new TemplateError(
            "unsupported",
            ts.peek().pos,
            "unpacking several loop variables is not supported",
          );
        }
        if (v.value === "loop")
          throw new TemplateError("syntax", v.pos, '"loop" is reserved inside for loops');
        if (!ts.isName("in")) throw unexpected(ts.peek(), 'expected "in"');
        ts.next();
        const iterable = expression(ts).parseNoIf();
        if (ts.isName("if"))
          throw new TemplateError(
            "unsupported",
            ts.peek().pos,
            "loop filters (for ... if) are not supported",
          );
        if (ts.isName("recursive"))
          throw new TemplateError("unsupported", ts.peek().pos, "recursive loops are not supported");
        ts.expectEnd();
        const node: Node = {
          kind: "for",
          pos: piece.pos,
          variable: v.value,
          iterable,
          body: [],
          otherwise: undefined,
        };
        frame.body.push(node);
        if (stack.length > maxBlockDepth) throw tooDeep(piece.pos);
        stack.push({ kind: "for", pos: piece.pos, body: node.body, node });
        break;
      }
      default: {
        const what = UNSUPPORTED_STATEMENTS[name.value];
        throw new TemplateError(
          "unsupported",
          name.pos,
          what
            ? `${what} ({% ${name.value} %}) are not supported`
            : `unknown statement {% ${name.value} %}; supported: if, elif, else, endif, for, endfor`,
        );
      }
    }
  }
  const open = top();
  if (open.kind !== "root") {
    throw new TemplateError(
      "unterminated",
      open.pos,
      `{% ${open.kind} %} is never closed with {% end${open.kind} %}`,
    );
  }
  return { body: root.body };
}
