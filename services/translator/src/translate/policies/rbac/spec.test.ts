import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "@bufbuild/cel";
import { ParsedExprSchema } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { encodeResource } from "@waymark/envoy-proto";
import { compileCel, MAX_CEL_DEPTH } from "./cel.ts";
import { rbacFeature } from "./index.ts";
import { readRbac } from "./spec.ts";

const errors = (r: ReturnType<typeof readRbac>) =>
  r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
const matcherOf = (r: ReturnType<typeof readRbac>) => {
  assert.ok(r.ok, errors(r).join("; "));
  return r.value.perRoute.rbac!.matcher!;
};
const actionOf = (m: unknown) =>
  (m as { action: { typedConfig: { action: string } } }).action.typedConfig.action;

test("Allow (the default): a match is allowed, anything else denied; one expression is one predicate", () => {
  const m = matcherOf(readRbac({ policy: { matchExpressions: ['request.headers["x-user"] == "alice"'] } }));
  const [fm] = m.matcherList!.matchers!;
  assert.equal(actionOf(fm!.onMatch), "ALLOW");
  assert.equal(actionOf(m.onNoMatch), "DENY");
  assert.ok(fm!.predicate!.singlePredicate);
  const custom = fm!.predicate!.singlePredicate!.customMatch!;
  assert.equal(custom.name, "envoy.matching.matchers.cel_matcher");
  assert.equal(fm!.predicate!.singlePredicate!.input!.name, "envoy.matching.inputs.cel_data_input");
});

test("Deny: a match is denied, anything else allowed; several expressions are ORed (as kgateway)", () => {
  const m = matcherOf(
    readRbac({
      action: "Deny",
      policy: { matchExpressions: ['request.method == "DELETE"', "source.port == 1"] },
    }),
  );
  const [fm] = m.matcherList!.matchers!;
  assert.equal(actionOf(fm!.onMatch), "DENY");
  assert.equal(actionOf(m.onNoMatch), "ALLOW");
  assert.equal(fm!.predicate!.orMatcher!.predicate!.length, 2);
});

test("the AST sent as cel_expr_parsed has cel.expr.ParsedExpr's bytes (the v1alpha1 stand-in is wire-identical)", () => {
  const source =
    'request.headers["x-user"] == "alice" && {"a": [1, -2, 3u, 3.5, b"x", null, true]}["a"][0] == 1' +
    ' && has(request.id) && request.time > timestamp("2020-01-01T00:00:00Z") && request.path in ["/a"]' +
    " && (connection.mtls ? 1 : 2) == 1";
  const c = compileCel(source);
  assert.ok(c.ok);
  const bytes = encodeResource("type.googleapis.com/xds.type.matcher.v3.CelMatcher", "t", {
    exprMatch: { celExprParsed: { expr: c.expr } },
  });
  // CelMatcher.expr_match (1) → CelExpression.cel_expr_parsed (3), read with cel.expr's own schema.
  const field = (b: Uint8Array, n: number): Uint8Array => {
    const r = new BinaryReader(b);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (no === n) return r.bytes();
      r.skip(wt);
    }
    throw new Error(`no field ${n}`);
  };
  const back = fromBinary(ParsedExprSchema, field(field(bytes, 1), 3));
  assert.deepEqual(
    toJson(ParsedExprSchema, back),
    toJson(ParsedExprSchema, { ...parse(source), sourceInfo: undefined }),
  );
});

test("an expression that does not parse is an error at its path, with the parser's message", () => {
  assert.deepEqual(errors(readRbac({ policy: { matchExpressions: ["request.path == '/a'", "a =="] } })), [
    "rbac.policy.matchExpressions[1]: does not parse: at 1:3: found = but expecting end of input",
  ]);
});

test("what Envoy cannot evaluate is refused before it is sent (Envoy would NACK the routes)", () => {
  const cases: [string, RegExp][] = [
    ['"A".lowerAscii() == "a"', /function lowerAscii is not available/],
    ['string(1) == "1"', /function string is not available/],
    ["size(request.path, 1) > 0", /no size function taking 2 arguments/],
    ['request.path.startsWith() == "a"', /no startsWith method taking 0 arguments/],
    ['request.headers.exists(h, h == "x")', /without comprehensions/],
    ["[1].all(x, x > 0)", /without comprehensions/],
    ["google.protobuf.Duration{seconds: 1} == duration('1s')", /building a message/],
    [
      "user == 'alice'",
      /unknown variable user \(known: request, source, destination, connection, metadata\)/,
    ],
    ["'alice'", /must evaluate to a bool, not a literal/],
    ["request.size + 1", /not the result of _\+_/],
    ["[true]", /not a list/],
  ];
  for (const [source, message] of cases) {
    const e = errors(readRbac({ policy: { matchExpressions: [source] } }));
    assert.equal(e.length, 1, source);
    assert.match(e[0]!, /^rbac\.policy\.matchExpressions\[0\]: /, source);
    assert.match(e[0]!, message, source);
  }
});

test("what Envoy evaluates passes: operators, string functions, conversions, time, has, ternary, literals", () => {
  for (const source of [
    'request.headers["x-user"] == "alice"',
    "request.path.startsWith('/a') || request.path.endsWith('/b') || request.path.contains('c')",
    "request.path.matches('^/x') && matches(request.path, 'y') && size(request.path) > 1 && request.path.size() > 1",
    "int('1') == 1 && uint(1) == 1u && double(1) == 1.0 && bytes('a') == b'a' && bool('true') && dyn(1) == 1",
    "request.time.getHours() == 1 && request.time.getDayOfWeek('UTC') == 1 && request.duration < duration('1s')",
    "type(request.path) == string && !has(request.headers.foo) && (connection.mtls ? true : false)",
    "source.address in ['10.0.0.1'] && destination.port != 80 && metadata.filter_metadata['a'] == 'b'",
    "true",
  ])
    assert.deepEqual(errors(readRbac({ policy: { matchExpressions: [source] } })), [], source);
});

test("the spec's shape: policy and matchExpressions required, 1 to 256 non-empty strings, action Allow or Deny", () => {
  assert.deepEqual(errors(readRbac({})), ["rbac.policy: required"]);
  assert.deepEqual(errors(readRbac({ policy: {} })), ["rbac.policy.matchExpressions: required"]);
  assert.deepEqual(errors(readRbac({ policy: { matchExpressions: [] } })), [
    "rbac.policy.matchExpressions: must have 1 to 256 expressions",
  ]);
  assert.deepEqual(errors(readRbac({ policy: { matchExpressions: ["", 3] } })), [
    "rbac.policy.matchExpressions[0]: must be a CEL expression of 1 to 16384 characters",
    "rbac.policy.matchExpressions[1]: must be a CEL expression of 1 to 16384 characters",
  ]);
  assert.deepEqual(errors(readRbac({ action: "allow", policy: { matchExpressions: ["true"] } })), [
    "rbac.action: must be Allow or Deny",
  ]);
  assert.match(
    errors(readRbac({ policy: { matchExpressions: ["true"], other: 1 } })).join(),
    /rbac\.policy\.other: unknown field/,
  );
  assert.deepEqual(errors(readRbac("x")), ["rbac: must be an object"]);
});

test(`an expression nested ${MAX_CEL_DEPTH} levels deep is sent; one level more is refused (protobuf's depth limit)`, () => {
  // request.size + 1 + ... > 0: _>_, then one _+_ per term, then request.size (a select of an ident).
  const nested = (depth: number) => `request.size${" + 1".repeat(depth - 3)} > 0`;
  // The deepest place: a route entry, in an OR of two expressions.
  const r = readRbac({ policy: { matchExpressions: [nested(MAX_CEL_DEPTH), "true"] } });
  assert.ok(r.ok, errors(r).join());
  const routeConfig = {
    name: "r",
    virtualHosts: [
      {
        name: "v",
        domains: ["*"],
        routes: [
          {
            match: { prefix: "/" },
            directResponse: { status: 200 },
            typedPerFilterConfig: rbacFeature.perRoute!(r.value),
          },
        ],
      },
    ],
  };
  encodeResource("type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "r", routeConfig);
  assert.deepEqual(errors(readRbac({ policy: { matchExpressions: [nested(MAX_CEL_DEPTH + 1)] } })), [
    `rbac.policy.matchExpressions[0]: nested more than ${MAX_CEL_DEPTH} levels deep (the most a route configuration carries)`,
  ]);
  const maps = `${'{"a": '.repeat(17)}1${"}".repeat(17)} == {}`;
  assert.match(errors(readRbac({ policy: { matchExpressions: [maps] } })).join(), /nested more than/);
});

test("an expression nested too deep for the parser is an error, not a crash", () => {
  const deep = `${"(".repeat(5000)}true${")".repeat(5000)}`;
  const r = readRbac({ policy: { matchExpressions: [deep] } });
  assert.equal(r.ok, false);
});
