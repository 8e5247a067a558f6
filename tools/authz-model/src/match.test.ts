import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cidrContains,
  headerMatch,
  parseCidr,
  pathOnly,
  templateRegex,
  validPath,
  wildcardMatch,
} from "./match.ts";

describe("wildcardMatch (matcher/string.go StringMatcherWithPrefix)", () => {
  it("exact, prefix, suffix and presence", () => {
    assert.equal(wildcardMatch("/info", "/info"), true);
    assert.equal(wildcardMatch("/info", "/info/"), false);
    assert.equal(wildcardMatch("/info*", "/info/a"), true);
    assert.equal(wildcardMatch("/info*", "/inf"), false);
    assert.equal(wildcardMatch("*users", "/api/v1/users"), true);
    assert.equal(wildcardMatch("*users", "/api/v1/user"), false);
    assert.equal(wildcardMatch("*", "x"), true);
    assert.equal(wildcardMatch("*", ""), false, "`*` is the regex .+: an empty value is not matched");
    assert.equal(wildcardMatch("*", undefined), false);
  });
  it("a `*` in the middle is a literal", () => {
    assert.equal(wildcardMatch("/a*b", "/a*b"), true);
    assert.equal(wildcardMatch("/a*b", "/axb"), false);
  });
  it("the spiffe:// prefix is part of the pattern, also under a suffix wildcard", () => {
    assert.equal(
      wildcardMatch("cluster.local/ns/foo/sa/sleep", "spiffe://cluster.local/ns/foo/sa/sleep", "spiffe://"),
      true,
    );
    assert.equal(wildcardMatch("*/sa/sleep", "spiffe://td/ns/foo/sa/sleep", "spiffe://"), true);
    assert.equal(wildcardMatch("*/sa/sleep", "td/ns/foo/sa/sleep", "spiffe://"), false);
    assert.equal(wildcardMatch("cluster.local/*", "spiffe://cluster.local/ns/x/sa/y", "spiffe://"), true);
  });
  it("ignores case when asked (hosts)", () => {
    assert.equal(wildcardMatch("Example.COM", "example.com", "", true), true);
    assert.equal(wildcardMatch("*.COM", "a.example.com", "", true), true);
  });
});

describe("headerMatch (matcher/header.go HeaderMatcher)", () => {
  it("`*` is present_match: an empty header is present, an absent one is not", () => {
    assert.equal(headerMatch("*", ""), true);
    assert.equal(headerMatch("*", undefined), false);
  });
  it("values are case-sensitive", () => {
    assert.equal(headerMatch("GET", "get"), false);
    assert.equal(headerMatch("G*", "GET"), true);
    assert.equal(headerMatch("*T", "POST"), true);
  });
});

describe("CIDR (netip.ParsePrefix / util.AddrStrToCidrRange)", () => {
  it("a bare address is a single host", () => {
    const c = parseCidr("10.0.0.1")!;
    assert.equal(cidrContains(c, "10.0.0.1"), true);
    assert.equal(cidrContains(c, "10.0.0.2"), false);
  });
  it("host bits of a range are ignored", () => {
    const c = parseCidr("10.0.0.7/24")!;
    assert.equal(cidrContains(c, "10.0.0.200"), true);
    assert.equal(cidrContains(c, "10.0.1.1"), false);
  });
  it("IPv6, with :: and an embedded IPv4; families never mix", () => {
    const c = parseCidr("fd00::/64")!;
    assert.equal(cidrContains(c, "fd00::1"), true);
    assert.equal(cidrContains(c, "fd00:0:0:1::1"), false);
    assert.equal(cidrContains(parseCidr("::ffff:10.0.0.1")!, "::ffff:10.0.0.1"), true);
    assert.equal(cidrContains(parseCidr("0.0.0.0/0")!, "fd00::1"), false);
    assert.equal(cidrContains(parseCidr("::/0")!, "10.0.0.1"), false);
  });
  it("rejects what Go's netip rejects", () => {
    for (const bad of [
      "10.0.0.0/33",
      "10.0.0.256",
      "010.0.0.1",
      "10.0.0",
      "10.0.0.0/",
      "10.0.0.0/08",
      "1::2::3",
      "fe80::1%eth0",
      "x",
      "",
    ]) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
    for (const good of ["1:2:3:4:5:6:7::", "::", "::1/128", "0.0.0.0/0"])
      assert.notEqual(parseCidr(good), undefined, good);
  });
});

describe("paths", () => {
  it("url_path sees the path without query or fragment", () => {
    assert.equal(pathOnly("/admin?debug=1"), "/admin");
    assert.equal(pathOnly("/a#b"), "/a");
  });
  it("{*} is one non-empty segment, {**} any rest (Envoy uri_template: `*` = [pchar]+, `**` = [pchar/]*)", () => {
    const one = templateRegex("/api/{*}/users")!;
    assert.equal(one.test("/api/v1/users"), true);
    assert.equal(one.test("/api/v1/v2/users"), false);
    assert.equal(one.test("/api//users"), false);
    const rest = templateRegex("/api/{**}")!;
    assert.equal(rest.test("/api/v2/users/1"), true);
    assert.equal(rest.test("/api/"), true);
    assert.equal(rest.test("/api"), false);
    const root = templateRegex("/{**}")!;
    assert.equal(root.test("/"), true);
  });
  it("a template literal is matched literally (its `.` is not a regex dot)", () => {
    assert.equal(templateRegex("/{*}/a.b")!.test("/x/a.b"), true);
    assert.equal(templateRegex("/{*}/a.b")!.test("/x/aXb"), false);
  });
  it("invalid templates (pkg/config/security CheckValidPathTemplate)", () => {
    assert.equal(validPath("/foo/{**}/bar/{*}"), false, "{**} must be the last operator");
    assert.equal(validPath("/foo/{**}/{**}"), false);
    assert.equal(validPath("/foo/{**}/bar"), true, "a literal may follow {**}");
    assert.equal(validPath("/foo{*}"), false, "braces beyond a whole-segment template");
    assert.equal(validPath("/a/{x}"), false);
    assert.equal(validPath("/foo/{*}/b*r"), false, "`*` is not a literal in a template");
    assert.equal(validPath("/foo/b*r"), true, "outside a template `*` is fine");
    // Istio admits `=` in a literal but Envoy's uri_template does not: untranslatable.
    assert.equal(validPath("/{*}/a=b"), true);
    assert.equal(templateRegex("/{*}/a=b"), undefined);
  });
});
