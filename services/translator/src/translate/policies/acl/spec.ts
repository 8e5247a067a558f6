// Reading TrafficPolicy acl (kgateway v2.4's shape): a defaultAction (allow or deny) and rules, each a
// list of CIDRs (a bare address is one host) with an action. As kgateway's filter decides, the most
// specific CIDR that holds the client's address wins whatever the rule order, so a small allow can
// punch a hole in a larger deny and the other way round; a CIDR listed twice takes its last rule's
// action; no CIDR holding the address: defaultAction. A CIDR with host bits set is refused, as kgateway
// does. denyResponse (status, headers) is accepted and not programmed: Envoy's RBAC filter answers 403.
//
// The decision becomes one Envoy RBAC config. With defaultAction deny it is an ALLOW engine whose
// policies hold the allow CIDRs, each minus the deny CIDRs nested inside it (nearest first, up to a
// nested allow, which has its own policy); with defaultAction allow it is the mirror image, a DENY
// engine of the deny CIDRs minus the allow CIDRs inside them. That is longest-prefix matching: an
// address is in a listed CIDR's set exactly when the most specific CIDR holding it has that action.
import type { HttpRbacJson, RbacPolicyJson, RbacPrincipalJson } from "@waymark/envoy-proto";
import { type CidrRangeJson, parseCidr } from "../../authorization/rbac/matchers.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";
import { object, readStrings, unknownKeys } from "../read.ts";

export interface AclValue {
  rbac: HttpRbacJson;
  /** denyResponse was given (accepted, not programmed). */
  denyResponse: boolean;
}

type Action = "allow" | "deny";

interface Prefix {
  family: 4 | 6;
  network: bigint;
  len: number;
  action: Action;
  rule: number;
  cidr: CidrRangeJson;
  /** CIDRs of the other action nested inside this one (not covered by a nearer one of this action). */
  holes: CidrRangeJson[];
}

/** An IPv4 or IPv6 address as a number (isIP has accepted it), or undefined. */
function addressBits(addr: string, family: 4 | 6): bigint | undefined {
  if (family === 4) return addr.split(".").reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
  let text = addr;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = addressBits(dotted[1]!, 4)!;
    tail.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    text = text.slice(0, -dotted[1]!.length);
    if (text.endsWith(":") && !text.endsWith("::")) text = text.slice(0, -1);
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const left = groups(head);
  const right = [...(rest === undefined ? [] : groups(rest)), ...tail];
  const all =
    rest === undefined
      ? [...left, ...right]
      : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  if (all.length !== 8) return undefined;
  return all.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
}

function formatNetwork(bits: bigint, family: 4 | 6, len: number): string {
  if (family === 4) return `${[24n, 16n, 8n, 0n].map((s) => String((bits >> s) & 255n)).join(".")}/${len}`;
  const groups = [...Array(8).keys()].map((i) => ((bits >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The longest run of zero groups becomes "::".
  let best = { at: -1, n: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.n && j - i > 1) best = { at: i, n: j - i };
    i = j === i ? i + 1 : j;
  }
  const text =
    best.at < 0
      ? groups.join(":")
      : `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.n).join(":")}`;
  return `${text}/${len}`;
}

const width = (f: 4 | 6) => (f === 4 ? 32 : 128);
const contains = (outer: Prefix, inner: Prefix) =>
  outer.family === inner.family &&
  outer.len <= inner.len &&
  outer.network >> BigInt(width(outer.family) - outer.len) ===
    inner.network >> BigInt(width(inner.family) - outer.len);

function readAction(v: unknown, path: string, errors: FieldErrors): Action | undefined {
  if (v === "allow" || v === "deny") return v;
  errors.at(path, `${v === undefined ? "required" : JSON.stringify(v)}: must be allow or deny`);
  return undefined;
}

/** One principal: the client address in `p`, and in none of its holes. */
function principal(p: Prefix): RbacPrincipalJson {
  const inside: RbacPrincipalJson = { remoteIp: p.cidr };
  if (p.holes.length === 0) return inside;
  const holes = p.holes.map((c): RbacPrincipalJson => ({ remoteIp: c }));
  const notIn: RbacPrincipalJson = { notId: holes.length === 1 ? holes[0]! : { orIds: { ids: holes } } };
  return { andIds: { ids: [inside, notIn] } };
}

export function readAcl(value: unknown): FeatureRead<AclValue> {
  const errors = new FieldErrors();
  const v = object(value, "acl", errors);
  if (!v) return { ok: false, errors: errors.list };
  unknownKeys(v, ["defaultAction", "rules", "denyResponse"], "acl", errors);
  const defaultAction = readAction(v.defaultAction, "acl.defaultAction", errors);
  if (v.denyResponse !== undefined) object(v.denyResponse, "acl.denyResponse", errors);

  const rules = v.rules === undefined ? [] : Array.isArray(v.rules) ? v.rules : undefined;
  if (!rules) errors.at("acl.rules", "must be a list");
  else if (rules.length > 256) errors.at("acl.rules", "at most 256 entries");
  const names: Array<string | undefined> = [];
  // By CIDR (family, network, length): a later rule's entry replaces an earlier one.
  const byCidr = new Map<string, Prefix>();
  (rules ?? []).forEach((r, i) => {
    const path = `acl.rules[${i}]`;
    const rule = object(r, path, errors);
    if (!rule) return;
    unknownKeys(rule, ["name", "cidrs", "action"], path, errors);
    if (rule.name !== undefined && typeof rule.name !== "string")
      errors.at(`${path}.name`, "must be a string");
    names[i] = typeof rule.name === "string" && rule.name !== "" ? rule.name : undefined;
    const action = readAction(rule.action, `${path}.action`, errors);
    const cidrs = readStrings(rule.cidrs, `${path}.cidrs`, errors, 256);
    if (!cidrs || cidrs.length === 0) {
      if (rule.cidrs === undefined || cidrs?.length === 0)
        errors.at(`${path}.cidrs`, "needs at least one CIDR");
      return;
    }
    cidrs.forEach((c, j) => {
      const at = `${path}.cidrs[${j}]`;
      const cidr = parseCidr(c);
      const family = cidr ? (cidr.addressPrefix!.includes(":") ? 6 : 4) : undefined;
      const bits = cidr && family ? addressBits(cidr.addressPrefix!, family) : undefined;
      if (!cidr || !family || bits === undefined) {
        errors.at(at, "not an IP address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7, 2001:db8::/32)", c);
        return;
      }
      const len = cidr.prefixLen!;
      const host = BigInt(width(family) - len);
      const network = (bits >> host) << host;
      if (network !== bits) {
        errors.at(at, `host bits set; did you mean ${formatNetwork(network, family, len)}?`, c);
        return;
      }
      if (action === undefined) return;
      byCidr.set(`${family}/${network}/${len}`, { family, network, len, action, rule: i, cidr, holes: [] });
    });
  });
  if (errors.length || defaultAction === undefined) return { ok: false, errors: errors.list };

  // Nested CIDRs: in order of (family, network, length) every CIDR comes after the ones holding it, so
  // a stack holds the chain of CIDRs around the current one.
  const prefixes = [...byCidr.values()].sort(
    (a, b) => a.family - b.family || (a.network < b.network ? -1 : a.network > b.network ? 1 : a.len - b.len),
  );
  const stack: Prefix[] = [];
  for (const p of prefixes) {
    while (stack.length && !contains(stack[stack.length - 1]!, p)) stack.pop();
    for (let k = stack.length - 1; k >= 0; k--) {
      const outer = stack[k]!;
      // A nearer CIDR of p's own action already takes p's addresses out of the ones further out.
      if (outer.action === p.action) break;
      outer.holes.push(p.cidr);
    }
    stack.push(p);
  }

  // The engine lists the CIDRs of the action that is not the default.
  const listed: Action = defaultAction === "deny" ? "allow" : "deny";
  const policies: Record<string, RbacPolicyJson> = {};
  (rules ?? []).forEach((_, i) => {
    const mine = prefixes.filter((p) => p.rule === i && p.action === listed);
    if (mine.length === 0) return;
    policies[`rules[${i}]${names[i] ? ` ${names[i]}` : ""}`] = {
      permissions: [{ any: true }],
      principals: mine.map(principal),
    };
  });
  return {
    ok: true,
    value: {
      rbac: { rules: { action: listed === "allow" ? "ALLOW" : "DENY", policies } },
      denyResponse: v.denyResponse !== undefined,
    },
  };
}
