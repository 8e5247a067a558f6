// Properties of the model over generated policy sets and requests: it is total and deterministic,
// and a few metamorphic relations of Istio's semantics hold. AUTHZ_MODEL_RUNS raises the run count.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import * as arb from "./arbitraries.ts";
import { evaluate, problems } from "./evaluate.ts";
import type { Action, AuthorizationPolicy, Request } from "./types.ts";

const numRuns = Number(process.env["AUTHZ_MODEL_RUNS"] ?? 300);
const all = { actions: ["ALLOW", "DENY", "AUDIT", "CUSTOM"] as const };
const ofAction = (action: Action, i: number) => arb.policy({ actions: [action] }, `extra${i}`);
const shuffled = <T>(xs: T[]) => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length });

describe("model properties", () => {
  it("is total and deterministic, on valid and invalid policies", () => {
    fc.assert(
      fc.property(
        arb.policies({ ...all, invalidValues: true }),
        arb.request(),
        arb.evaluateOptions,
        (ps, r, o) => {
          const a = evaluate(ps, r, o);
          assert.ok(a.decision === "allow" || a.decision === "deny");
          assert.deepEqual(evaluate(structuredClone(ps), structuredClone(r), structuredClone(o)), a);
        },
      ),
      { numRuns },
    );
  });

  it("adding a DENY policy never turns a deny into an allow", () => {
    fc.assert(
      fc.property(
        arb.policies(all),
        ofAction("DENY", 0),
        arb.request(),
        arb.evaluateOptions,
        (ps, extra, r, o) => {
          fc.pre(evaluate(ps, r, o).decision === "deny");
          assert.equal(evaluate([...ps, extra], r, o).decision, "deny");
        },
      ),
      { numRuns },
    );
  });

  it("adding an ALLOW policy to a set with none never turns a deny into an allow", () => {
    const noAllow = arb.policies({ actions: ["DENY", "AUDIT", "CUSTOM"] });
    fc.assert(
      fc.property(noAllow, ofAction("ALLOW", 0), arb.request(), arb.evaluateOptions, (ps, extra, r, o) => {
        fc.pre(evaluate(ps, r, o).decision === "deny");
        assert.equal(evaluate([...ps, extra], r, o).decision, "deny");
      }),
      { numRuns },
    );
  });

  it("adding an ALLOW policy to a set that has one never turns an allow into a deny (ALLOWs are ORed)", () => {
    fc.assert(
      fc.property(
        arb.policies(all),
        ofAction("ALLOW", 0),
        ofAction("ALLOW", 1),
        arb.request(),
        arb.evaluateOptions,
        (ps, a, b, r, o) => {
          const base = [...ps, a];
          fc.pre(evaluate(base, r, o).decision === "allow");
          assert.equal(evaluate([...base, b], r, o).decision, "allow");
        },
      ),
      { numRuns },
    );
  });

  it("AUDIT policies and the order of policies never change the decision", () => {
    fc.assert(
      fc.property(
        arb.policies(all).chain((ps) => fc.tuple(fc.constant(ps), shuffled(ps))),
        ofAction("AUDIT", 0),
        arb.request(),
        arb.evaluateOptions,
        ([ps, reordered], audit, r, o) => {
          const d = evaluate(ps, r, o).decision;
          assert.equal(evaluate(reordered, r, o).decision, d);
          assert.equal(evaluate([audit, ...ps], r, o).decision, d);
        },
      ),
      { numRuns },
    );
  });

  it("a TCP connection is never allowed where the same connection carrying HTTP is denied", () => {
    // Same L4 attributes; no X-Forwarded-For, which TCP cannot carry.
    const httpReq = arb.request({ protocols: ["http"] }).map(({ remoteIp: _, ...r }) => r as Request);
    fc.assert(
      fc.property(arb.policies({ ...all, invalidValues: true }), httpReq, arb.evaluateOptions, (ps, r, o) => {
        const t: Request = {
          protocol: "tcp",
          sourceIp: r.sourceIp,
          destinationIp: r.destinationIp,
          destinationPort: r.destinationPort,
        };
        if (r.peerPrincipal !== undefined) t.peerPrincipal = r.peerPrincipal;
        if (r.sni !== undefined) t.sni = r.sni;
        fc.pre(evaluate(ps, t, o).decision === "allow");
        assert.equal(evaluate(ps, r, o).decision, "allow");
      }),
      { numRuns },
    );
  });

  it("declaring a field untranslatable never turns a deny into an allow", () => {
    const field = fc.constantFrom(
      "paths",
      "notPaths",
      "methods",
      "hosts",
      "ports",
      "principals",
      "ipBlocks",
      "request.headers[x-user]",
      "source.ip",
    );
    fc.assert(
      fc.property(arb.policies(all), arb.request(), arb.evaluateOptions, field, (ps, r, o, f) => {
        fc.pre(evaluate(ps, r, o).decision === "deny");
        assert.equal(evaluate(ps, r, { ...o, untranslatable: [f] }).decision, "deny");
      }),
      { numRuns },
    );
  });

  it("the generators produce matches and non-matches often (fixed seed)", () => {
    const samples = fc.sample(fc.tuple(arb.policies(), arb.request(), arb.evaluateOptions), {
      numRuns: 1000,
      seed: 13,
    });
    const count: Record<string, number> = {};
    for (const [ps, r, o] of samples) {
      const v = evaluate(ps, r, o);
      count[v.decision] = (count[v.decision] ?? 0) + 1;
      count[v.reason] = (count[v.reason] ?? 0) + 1;
    }
    assert.ok(count["allow"]! > 250 && count["deny"]! > 250, JSON.stringify(count));
    // ALLOW and DENY rules do match requests: the decisions are not only the defaults.
    for (const reason of ["allow", "no-allow-policy", "no-allow-match"])
      assert.ok((count[reason] ?? 0) > 50, `${reason}: ${JSON.stringify(count)}`);
  });

  it("policies generated with l4Only are wholly expressible on a TCP chain", () => {
    fc.assert(
      fc.property(arb.policies({ actions: ["ALLOW", "DENY", "AUDIT"], l4Only: true }), (ps) => {
        assert.deepEqual(problems(ps, "tcp"), []);
      }),
      { numRuns },
    );
  });

  it("generated policies pass istiod's admission unless asked for invalid values", async () => {
    const { validate } = await import("./validate.ts");
    fc.assert(
      fc.property(arb.policy(all), (p: AuthorizationPolicy) => {
        assert.deepEqual(validate(p), []);
      }),
      { numRuns },
    );
  });
});
