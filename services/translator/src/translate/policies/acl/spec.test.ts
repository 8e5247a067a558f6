import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { test } from "node:test";
import type { RbacPrincipalJson } from "@waymark/envoy-proto";
import { type AclValue, readAcl } from "./spec.ts";

/** Whether an address matches a principal of the generated config (the parts acl uses). */
function matches(p: RbacPrincipalJson, ip: string): boolean {
  if (p.remoteIp) {
    const b = new BlockList();
    const family = p.remoteIp.addressPrefix!.includes(":") ? "ipv6" : "ipv4";
    if ((ip.includes(":") ? "ipv6" : "ipv4") !== family) return false;
    b.addSubnet(p.remoteIp.addressPrefix!, p.remoteIp.prefixLen!, family);
    return b.check(ip, family);
  }
  if (p.andIds) return p.andIds.ids!.every((x) => matches(x, ip));
  if (p.orIds) return p.orIds.ids!.some((x) => matches(x, ip));
  if (p.notId) return !matches(p.notId, ip);
  throw new Error(`unexpected principal ${JSON.stringify(p)}`);
}

/** What the RBAC engine decides for an address. */
function allowed(v: AclValue, ip: string): boolean {
  const rules = v.rbac.rules!;
  const hit = Object.values(rules.policies ?? {}).some((pol) => pol.principals!.some((p) => matches(p, ip)));
  return rules.action === "ALLOW" ? hit : !hit;
}

function value(acl: unknown): AclValue {
  const r = readAcl(acl);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join("; "));
  return r.value;
}
const errors = (acl: unknown) => {
  const r = readAcl(acl);
  return r.ok ? [] : r.errors.map((e) => `${e.path}${e.subject ? ` (${e.subject})` : ""}: ${e.message}`);
};

test("kgateway's hole punch: the most specific CIDR wins whatever the rule order", () => {
  const v = value({
    defaultAction: "allow",
    rules: [
      { name: "block-internal-range", cidrs: ["10.0.0.0/8"], action: "deny" },
      { name: "allow-trusted-subnet", cidrs: ["10.1.0.0/16"], action: "allow" },
      { name: "block-rogue-host", cidrs: ["10.1.2.3"], action: "deny" },
    ],
  });
  assert.equal(v.rbac.rules?.action, "DENY");
  assert.equal(allowed(v, "10.1.2.3"), false);
  assert.equal(allowed(v, "10.1.2.4"), true);
  assert.equal(allowed(v, "10.2.0.1"), false);
  assert.equal(allowed(v, "8.8.8.8"), true);
  assert.deepEqual(Object.keys(v.rbac.rules?.policies ?? {}), [
    "rules[0] block-internal-range",
    "rules[2] block-rogue-host",
  ]);
  assert.deepEqual(v.rbac.rules?.policies?.["rules[0] block-internal-range"]?.principals, [
    {
      andIds: {
        ids: [
          { remoteIp: { addressPrefix: "10.0.0.0", prefixLen: 8 } },
          { notId: { remoteIp: { addressPrefix: "10.1.0.0", prefixLen: 16 } } },
        ],
      },
    },
  ]);
});

test("default deny: an ALLOW engine of the allow CIDRs; no rules denies everything", () => {
  const v = value({
    defaultAction: "deny",
    rules: [{ cidrs: ["192.168.0.0/16", "2001:db8::/32"], action: "allow" }],
  });
  assert.equal(v.rbac.rules?.action, "ALLOW");
  assert.equal(allowed(v, "192.168.4.4"), true);
  assert.equal(allowed(v, "2001:db8::7"), true);
  assert.equal(allowed(v, "10.0.0.1"), false);
  assert.equal(allowed(v, "2001:db9::1"), false);
  const none = value({ defaultAction: "deny" });
  assert.deepEqual(none.rbac, { rules: { action: "ALLOW", policies: {} } });
  assert.equal(allowed(none, "127.0.0.1"), false);
  assert.equal(allowed(value({ defaultAction: "allow" }), "127.0.0.1"), true);
});

test("a CIDR listed twice takes its last rule's action", () => {
  const v = value({
    defaultAction: "allow",
    rules: [
      { cidrs: ["10.0.0.0/8"], action: "deny" },
      { cidrs: ["10.0.0.0/8"], action: "allow" },
    ],
  });
  assert.equal(allowed(v, "10.1.1.1"), true);
});

test("longest-prefix matching, checked against a brute-force decision on random nested rules", () => {
  // mulberry32: a small deterministic generator (32-bit integer arithmetic only).
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const cidr = () => {
    const len = [8, 12, 16, 20, 24, 28, 32][rand(7)]!;
    const bits = ((10 << 24) | (rand(4) << 16) | (rand(4) << 8) | rand(8)) >>> 0;
    const net = len === 32 ? bits : (bits >>> (32 - len)) << (32 - len);
    return { s: `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join(".")}/${len}`, net: net >>> 0, len };
  };
  for (let round = 0; round < 200; round++) {
    const rules = [...Array(1 + rand(8)).keys()].map(() => ({
      cidrs: [...Array(1 + rand(3)).keys()].map(cidr),
      action: rand(2) ? "allow" : "deny",
    }));
    const defaultAction = rand(2) ? "allow" : "deny";
    const v = value({
      defaultAction,
      rules: rules.map((r) => ({ action: r.action, cidrs: r.cidrs.map((c) => c.s) })),
    });
    for (let k = 0; k < 30; k++) {
      const ipBits = ((10 << 24) | (rand(4) << 16) | (rand(4) << 8) | rand(8)) >>> 0;
      const ip = [24, 16, 8, 0].map((s) => (ipBits >>> s) & 255).join(".");
      // The reference: the longest CIDR holding the address, the last rule listing it.
      let best: { len: number; action: string } | undefined;
      for (const r of rules)
        for (const c of r.cidrs) {
          const holds = c.len === 0 || ipBits >>> (32 - c.len) === c.net >>> (32 - c.len);
          if (holds && (!best || c.len >= best.len)) best = { len: c.len, action: r.action };
        }
      assert.equal(
        allowed(v, ip),
        (best?.action ?? defaultAction) === "allow",
        `${JSON.stringify(rules)} ${ip}`,
      );
    }
  }
});

test("errors name the path: host bits, malformed CIDRs, actions; denyResponse is accepted and ignored", () => {
  assert.deepEqual(
    errors({
      defaultAction: "maybe",
      rules: [
        { cidrs: ["172.18.0.0/12", "10.0.0.1/33", "2001:db8::1/32"], action: "deny" },
        { cidrs: [], action: "allow" },
        { cidrs: ["1.2.3.4"] },
      ],
    }),
    [
      'acl.defaultAction: "maybe": must be allow or deny',
      "acl.rules[0].cidrs[0] (172.18.0.0/12): host bits set; did you mean 172.16.0.0/12?",
      "acl.rules[0].cidrs[1] (10.0.0.1/33): not an IP address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7, 2001:db8::/32)",
      "acl.rules[0].cidrs[2] (2001:db8::1/32): host bits set; did you mean 2001:db8::/32?",
      "acl.rules[1].cidrs: needs at least one CIDR",
      "acl.rules[2].action: required: must be allow or deny",
    ],
  );
  const r = readAcl({ defaultAction: "deny", denyResponse: { statusCode: 451 } });
  assert.ok(r.ok && r.value.denyResponse);
});
