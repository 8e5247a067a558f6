// The typed AST of a template. Every node carries the position of its first character.
import type { Position } from "./errors.ts";

export type BinaryOp =
  | "or"
  | "and"
  | "=="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "in"
  | "not in"
  | "+"
  | "-"
  | "~"
  | "*"
  | "/"
  | "//"
  | "%"
  | "**";

export type UnaryOp = "not" | "-" | "+";

export type Expr =
  | { kind: "str"; pos: Position; value: string }
  | { kind: "num"; pos: Position; value: number }
  | { kind: "bool"; pos: Position; value: boolean }
  | { kind: "none"; pos: Position }
  | { kind: "list"; pos: Position; items: Expr[] }
  | { kind: "var"; pos: Position; name: string }
  | { kind: "attr"; pos: Position; object: Expr; name: string }
  | { kind: "index"; pos: Position; object: Expr; index: Expr }
  | { kind: "call"; pos: Position; callee: string; args: Expr[] }
  | { kind: "unary"; pos: Position; op: UnaryOp; operand: Expr }
  | { kind: "binary"; pos: Position; op: BinaryOp; left: Expr; right: Expr }
  | { kind: "cond"; pos: Position; test: Expr; consequent: Expr; otherwise: Expr | undefined };

export interface IfBranch {
  pos: Position;
  test: Expr;
  body: Node[];
}

export type Node =
  | { kind: "text"; pos: Position; value: string }
  | { kind: "output"; pos: Position; expr: Expr }
  | { kind: "if"; pos: Position; branches: IfBranch[]; otherwise: Node[] | undefined }
  | {
      kind: "for";
      pos: Position;
      variable: string;
      iterable: Expr;
      body: Node[];
      otherwise: Node[] | undefined;
    };

export interface Template {
  body: Node[];
}
