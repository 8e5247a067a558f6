import assert from "node:assert/strict";
import { test } from "node:test";
import { compileMatch } from "./matches.ts";
import { compareMatchRank, type MatchRank, parseTimestamp } from "./precedence.ts";

function rank(match: unknown, extra: Partial<MatchRank> = {}): MatchRank {
  const c = compileMatch(match);
  assert.ok(c.ok, JSON.stringify(match));
  const { pathType, pathLength, hasMethod, headerCount, queryCount } = c.value;
  return {
    pathType,
    pathLength,
    hasMethod,
    headerCount,
    queryCount,
    created: undefined,
    namespace: "ns",
    name: "r",
    ruleIndex: 0,
    matchIndex: 0,
    ...extra,
  };
}

const first = (a: MatchRank, b: MatchRank) =>
  assert.ok(compareMatchRank(a, b) < 0 && compareMatchRank(b, a) > 0);

test("Exact beats any prefix, a longer prefix beats a shorter one, regex comes after prefixes", () => {
  const exact = rank({ path: { type: "Exact", value: "/a" } });
  const longPrefix = rank({ path: { type: "PathPrefix", value: "/abc/def" } });
  const shortPrefix = rank({ path: { type: "PathPrefix", value: "/abc" } });
  const root = rank(undefined);
  const regex = rank({ path: { type: "RegularExpression", value: "/abc/def/ghi.*" } });
  first(exact, longPrefix);
  first(longPrefix, shortPrefix);
  first(shortPrefix, root);
  first(root, regex);
});

test("a trailing slash does not make a prefix longer", () => {
  const a = rank({ path: { value: "/v1/" } }, { ruleIndex: 1 });
  const b = rank({ path: { value: "/v1" } }, { ruleIndex: 0 });
  first(b, a); // a tie on the match: rule order decides
});

test("then method, then more headers, then more query parameters", () => {
  const p = { type: "PathPrefix", value: "/x" };
  const method = rank({ path: p, method: "GET" });
  const twoHeaders = rank({
    path: p,
    headers: [
      { name: "a", value: "1" },
      { name: "b", value: "2" },
    ],
  });
  const oneHeader = rank({ path: p, headers: [{ name: "a", value: "1" }] });
  const query = rank({ path: p, queryParams: [{ name: "q", value: "1" }] });
  const plain = rank({ path: p });
  first(method, twoHeaders);
  first(twoHeaders, oneHeader);
  first(oneHeader, query);
  first(query, plain);
});

test("repeated header names count once (only the first match of a name applies)", () => {
  const dup = rank({
    headers: [
      { name: "A", value: "1" },
      { name: "a", value: "2" },
    ],
  });
  assert.equal(dup.headerCount, 1);
});

test("ties: oldest route, then namespace/name, then rule and match order", () => {
  const m = { path: { value: "/same" } };
  const old = rank(m, { created: parseTimestamp("2024-01-01T00:00:00Z"), name: "z" });
  const young = rank(m, { created: parseTimestamp("2025-01-01T00:00:00Z"), name: "a" });
  const unknown = rank(m, { created: undefined, name: "a" });
  first(old, young);
  first(young, unknown);
  first(rank(m, { namespace: "a", name: "z" }), rank(m, { namespace: "b", name: "a" }));
  first(rank(m, { name: "a" }), rank(m, { name: "b" }));
  first(rank(m, { ruleIndex: 0, matchIndex: 5 }), rank(m, { ruleIndex: 1, matchIndex: 0 }));
  first(rank(m, { matchIndex: 0 }), rank(m, { matchIndex: 1 }));
  assert.equal(compareMatchRank(rank(m), rank(m)), 0);
});

test("parseTimestamp tolerates garbage", () => {
  assert.equal(parseTimestamp(undefined), undefined);
  assert.equal(parseTimestamp("yesterday"), undefined);
  assert.equal(parseTimestamp(42), undefined);
  assert.equal(parseTimestamp("1970-01-01T00:00:01Z"), 1000);
});
