// Template AST → the source of one Lua function `function(C) ... return <string> end`, to be placed
// in a chunk after the prelude (lua/prelude.lua), which defines the upvalues W, S and T it uses.
// Template text, string literals and names from the template are emitted only through luaString();
// function names map to fixed prelude fields; variables become generated local names. Nothing is
// evaluated at compile time (no constant folding: replace_with_random stays per request).
import type { BinaryOp, Expr, Node, Template } from "../ast.ts";
import { FUNCTIONS } from "../functions.ts";
import { luaNumber, luaString } from "./literal.ts";

interface LoopInfo {
  variable: string;
  item: string;
  index: string;
  count: string;
}

const BINARY: Partial<Record<BinaryOp, string>> = {
  "+": "W.add",
  "-": "W.sub",
  "*": "W.mul",
  "/": "W.div",
  "//": "W.idiv",
  "%": "W.mod",
  "**": "W.pow",
  "~": "W.cat",
  "<": "W.lt",
  "<=": "W.le",
  ">": "W.gt",
  ">=": "W.ge",
};

class Gen {
  readonly lines: string[] = [];
  private depth = 1;
  private counter = 0;

  emit(line: string): void {
    this.lines.push(`${"  ".repeat(this.depth)}${line}`);
  }
  indent(): void {
    this.depth++;
  }
  dedent(): void {
    this.depth--;
  }
  fresh(prefix: string): string {
    return `${prefix}${++this.counter}`;
  }

  /** A Lua expression for e; statements it needs (short-circuit temps) are emitted first. */
  expr(e: Expr, loops: readonly LoopInfo[]): string {
    switch (e.kind) {
      case "str":
        return luaString(e.value);
      case "num":
        return luaNumber(e.value);
      case "bool":
        return e.value ? "true" : "false";
      case "none":
        return "W.NULL";
      case "list":
        return `W.list(${[String(e.items.length), ...e.items.map((i) => this.expr(i, loops))].join(", ")})`;
      case "var": {
        const loop = findLoop(loops, e.name);
        if (loop) return loop.item;
        return `W.var(C, ${luaString(e.name)})`;
      }
      case "attr": {
        if (e.object.kind === "var" && e.object.name === "loop" && !findLoop(loops, "loop")) {
          const l = loops[loops.length - 1];
          if (l) return loopProperty(l, e.name);
        }
        return `W.get(${this.expr(e.object, loops)}, ${luaString(e.name)})`;
      }
      case "index":
        return `W.get(${this.expr(e.object, loops)}, ${this.expr(e.index, loops)})`;
      case "call": {
        const spec = Object.hasOwn(FUNCTIONS, e.callee) ? FUNCTIONS[e.callee] : undefined;
        if (!spec) throw new Error(`unchecked template: unknown function ${JSON.stringify(e.callee)}`);
        const args = e.args.map((a) => this.expr(a, loops));
        return `W.${spec.lua}(${["C", ...args].join(", ")})`;
      }
      case "unary": {
        const v = this.expr(e.operand, loops);
        if (e.op === "not") return `(not T(${v}))`;
        return e.op === "-" ? `W.neg(${v})` : `W.pos(${v})`;
      }
      case "binary": {
        if (e.op === "and" || e.op === "or") {
          const t = this.fresh("t");
          this.emit(`local ${t} = ${this.expr(e.left, loops)}`);
          this.emit(e.op === "and" ? `if T(${t}) then` : `if not T(${t}) then`);
          this.indent();
          this.emit(`${t} = ${this.expr(e.right, loops)}`);
          this.dedent();
          this.emit("end");
          return t;
        }
        const l = this.expr(e.left, loops);
        const r = this.expr(e.right, loops);
        if (e.op === "==") return `W.eq(${l}, ${r})`;
        if (e.op === "!=") return `(not W.eq(${l}, ${r}))`;
        if (e.op === "in") return `W.contains(${r}, ${l})`;
        if (e.op === "not in") return `(not W.contains(${r}, ${l}))`;
        const fn = BINARY[e.op];
        if (!fn) throw new Error(`no Lua for operator ${e.op}`);
        return `${fn}(${l}, ${r})`;
      }
      case "cond": {
        const t = this.fresh("t");
        this.emit(`local ${t}`);
        this.emit(`if T(${this.expr(e.test, loops)}) then`);
        this.indent();
        this.emit(`${t} = ${this.expr(e.consequent, loops)}`);
        this.dedent();
        if (e.otherwise) {
          this.emit("else");
          this.indent();
          this.emit(`${t} = ${this.expr(e.otherwise, loops)}`);
          this.dedent();
        }
        this.emit("end");
        return t;
      }
    }
  }

  nodes(nodes: readonly Node[], loops: readonly LoopInfo[]): void {
    for (const n of nodes) this.node(n, loops);
  }

  private node(n: Node, loops: readonly LoopInfo[]): void {
    switch (n.kind) {
      case "text":
        this.emit(`n = n + 1; o[n] = ${luaString(n.value)}`);
        return;
      case "output": {
        this.emit("do");
        this.indent();
        const v = this.expr(n.expr, loops);
        this.emit(`n = n + 1; o[n] = S(${v})`);
        this.dedent();
        this.emit("end");
        return;
      }
      case "if":
        this.branches(n.branches, 0, n.otherwise, loops);
        return;
      case "for": {
        const l: LoopInfo = {
          variable: n.variable,
          item: this.fresh("v"),
          index: this.fresh("i"),
          count: this.fresh("c"),
        };
        const list = this.fresh("a");
        this.emit("do");
        this.indent();
        this.emit(`local ${list}, ${l.count} = W.items(${this.expr(n.iterable, loops)})`);
        this.emit(`if ${l.count} == 0 then`);
        this.indent();
        if (n.otherwise) this.nodes(n.otherwise, loops);
        this.dedent();
        this.emit("else");
        this.indent();
        this.emit(`for ${l.index} = 1, ${l.count} do`);
        this.indent();
        this.emit(`local ${l.item} = ${list}[${l.index}]`);
        this.nodes(n.body, [...loops, l]);
        this.dedent();
        this.emit("end");
        this.dedent();
        this.emit("end");
        this.dedent();
        this.emit("end");
        return;
      }
    }
  }

  private branches(
    branches: ReadonlyArray<{ test: Expr; body: Node[] }>,
    i: number,
    otherwise: Node[] | undefined,
    loops: readonly LoopInfo[],
  ): void {
    const b = branches[i];
    if (!b) {
      if (otherwise) this.nodes(otherwise, loops);
      return;
    }
    this.emit("do");
    this.indent();
    const test = this.expr(b.test, loops);
    this.emit(`if T(${test}) then`);
    this.indent();
    this.nodes(b.body, loops);
    this.dedent();
    if (i + 1 < branches.length || otherwise) {
      this.emit("else");
      this.indent();
      this.branches(branches, i + 1, otherwise, loops);
      this.dedent();
    }
    this.emit("end");
    this.dedent();
    this.emit("end");
  }
}

function findLoop(loops: readonly LoopInfo[], name: string): LoopInfo | undefined {
  for (let i = loops.length - 1; i >= 0; i--) if (loops[i]?.variable === name) return loops[i];
  return undefined;
}

function loopProperty(l: LoopInfo, name: string): string {
  switch (name) {
    case "index":
      return `(${l.index} + 0.0)`;
    case "index0":
      return `(${l.index} - 1.0)`;
    case "revindex":
      return `(${l.count} - ${l.index} + 1.0)`;
    case "revindex0":
      return `(${l.count} - ${l.index} + 0.0)`;
    case "first":
      return `(${l.index} == 1)`;
    case "last":
      return `(${l.index} == ${l.count})`;
    case "length":
      return `(${l.count} + 0.0)`;
    default:
      throw new Error(`unchecked template: loop.${name}`);
  }
}

/** Whether the template is straight-line (text and outputs with no short-circuit temporaries). */
function straight(body: readonly Node[]): boolean {
  const simple = (e: Expr): boolean => {
    switch (e.kind) {
      case "binary":
        return e.op !== "and" && e.op !== "or" && simple(e.left) && simple(e.right);
      case "cond":
        return false;
      case "list":
        return e.items.every(simple);
      case "attr":
        return simple(e.object);
      case "index":
        return simple(e.object) && simple(e.index);
      case "call":
        return e.args.every(simple);
      case "unary":
        return simple(e.operand);
      default:
        return true;
    }
  };
  return body.every((n) => n.kind === "text" || (n.kind === "output" && simple(n.expr)));
}

/** `function(C) ... end` rendering the (checked) template to a string. */
export function luaTemplateFunction(template: Template): string {
  const g = new Gen();
  if (straight(template.body) && template.body.length <= 32) {
    const parts = template.body.map((n) =>
      n.kind === "text" ? luaString(n.value) : n.kind === "output" ? `S(${g.expr(n.expr, [])})` : "",
    );
    return `function(C)\n  return ${parts.length ? parts.join(" .. ") : '""'}\nend`;
  }
  g.emit("local o, n = {}, 0");
  g.nodes(template.body, []);
  g.emit('return concat(o, "", 1, n)');
  return `function(C)\n${g.lines.join("\n")}\nend`;
}
