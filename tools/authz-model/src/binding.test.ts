import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { boundTo, type WaypointTarget } from "./binding.ts";
import type { AuthorizationPolicy, AuthorizationPolicySpec } from "./types.ts";
import { validate } from "./validate.ts";

const GW = "gateway.networking.k8s.io";
const ap = (namespace: string, spec: AuthorizationPolicySpec): AuthorizationPolicy => ({
  metadata: { name: "p", namespace },
  spec,
});
const chain: WaypointTarget = {
  gateway: { name: "waypoint", namespace: "foo", gatewayClassName: "kgateway-waypoint" },
  service: { kind: "Service", name: "httpbin", namespace: "foo" },
};

describe("boundTo (policyattachment.go ShouldAttachPolicy, IsWaypoint)", () => {
  it("kind: Gateway binds every chain of the waypoint, from the Gateway's namespace only", () => {
    const ref = { group: GW, kind: "Gateway", name: "waypoint" };
    assert.equal(boundTo(ap("foo", { targetRefs: [ref] }), chain), true);
    assert.equal(
      boundTo(ap("foo", { targetRefs: [ref] }), {
        ...chain,
        service: { kind: "Service", name: "other", namespace: "foo" },
      }),
      true,
    );
    assert.equal(boundTo(ap("bar", { targetRefs: [ref] }), chain), false);
    assert.equal(boundTo(ap("foo", { targetRefs: [{ ...ref, namespace: "bar" }] }), chain), false);
    assert.equal(boundTo(ap("foo", { targetRefs: [{ ...ref, name: "other" }] }), chain), false);
    assert.equal(boundTo(ap("foo", { targetRefs: [{ ...ref, group: "" }] }), chain), false, "wrong group");
    assert.equal(boundTo(ap("foo", { targetRef: ref }), chain), true, "the singular targetRef too");
  });
  it("kind: Service binds only that service's chains, from the service's namespace", () => {
    const ref = { kind: "Service", name: "httpbin" };
    assert.equal(boundTo(ap("foo", { targetRefs: [ref] }), chain), true);
    assert.equal(boundTo(ap("foo", { targetRefs: [{ ...ref, group: "core" }] }), chain), true);
    assert.equal(boundTo(ap("foo", { targetRefs: [{ ...ref, name: "other" }] }), chain), false);
    assert.equal(boundTo(ap("bar", { targetRefs: [ref] }), chain), false);
    assert.equal(
      boundTo(ap("foo", { targetRefs: [ref] }), { gateway: chain.gateway }),
      false,
      "a chain of no service",
    );
    const se = { ...chain, service: { kind: "ServiceEntry" as const, name: "httpbin", namespace: "foo" } };
    assert.equal(
      boundTo(ap("foo", { targetRefs: [ref] }), se),
      false,
      "a Service ref does not bind a ServiceEntry",
    );
    assert.equal(
      boundTo(
        ap("foo", { targetRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name: "httpbin" }] }),
        se,
      ),
      true,
    );
  });
  it("kind: GatewayClass kgateway-waypoint binds every waypoint of the class, from the root namespace only", () => {
    const ref = { group: GW, kind: "GatewayClass", name: "kgateway-waypoint" };
    assert.equal(boundTo(ap("istio-system", { targetRefs: [ref] }), chain), true);
    assert.equal(boundTo(ap("foo", { targetRefs: [ref] }), chain), false);
    assert.equal(
      boundTo(ap("mesh-root", { targetRefs: [ref] }), { ...chain, rootNamespace: "mesh-root" }),
      true,
    );
    assert.equal(
      boundTo(ap("mesh-root", { targetRefs: [ref] }), chain, { rootNamespace: "mesh-root" }),
      true,
    );
    assert.equal(
      boundTo(ap("istio-system", { targetRefs: [ref] }), chain, { rootNamespace: "mesh-root" }),
      false,
    );
    assert.equal(
      boundTo(ap("istio-system", { targetRefs: [{ ...ref, name: "istio-waypoint" }] }), chain),
      false,
    );
  });
  it("a selector, or neither, belongs to ztunnel and sidecars", () => {
    assert.equal(boundTo(ap("foo", { selector: { matchLabels: { app: "httpbin" } } }), chain), false);
    assert.equal(boundTo(ap("foo", {}), chain), false);
    assert.equal(boundTo(ap("istio-system", {}), chain), false);
  });
});

describe("validate (validation.go ValidateAuthorizationPolicy)", () => {
  const ok = (spec: AuthorizationPolicySpec) =>
    assert.deepEqual(validate(ap("foo", spec)), [], JSON.stringify(spec));
  const bad = (spec: AuthorizationPolicySpec, what: RegExp) => {
    const errors = validate(ap("foo", spec));
    assert.ok(
      errors.some((e) => what.test(e)),
      `${JSON.stringify(spec)}: ${JSON.stringify(errors)}`,
    );
  };
  it("admits the usual shapes", () => {
    ok({});
    ok({ rules: [{}] });
    ok({
      action: "DENY",
      rules: [
        {
          from: [{ source: { ipBlocks: ["10.0.0.0/8", "fd00::1"] } }],
          when: [{ key: "request.headers[x]", values: ["*"] }],
        },
      ],
    });
    ok({
      action: "CUSTOM",
      provider: { name: "ext" },
      rules: [{ to: [{ operation: { paths: ["/api/{**}"] } }] }],
    });
  });
  it("rejects what istiod rejects", () => {
    bad({ action: "DENY" }, /DENY action without rules/);
    bad({ action: "DENY", rules: [] }, /DENY action without rules/);
    bad({ action: "CUSTOM", rules: [{}] }, /provider.name/);
    bad({ provider: { name: "x" }, rules: [{}] }, /provider must not be with non CUSTOM/);
    bad({ selector: {}, targetRefs: [{ kind: "Gateway", name: "w" }] }, /only one of selector/);
    bad({ rules: [{ from: [] }] }, /from must not be empty/);
    bad({ rules: [{ from: [{ source: {} }] }] }, /from.source must not be empty/);
    bad({ rules: [{ to: [{}] }] }, /to.operation must not be nil/);
    bad({ rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/33"] } }] }] }, /invalid ipBlocks/);
    bad({ rules: [{ to: [{ operation: { ports: ["65536"] } }] }] }, /invalid ports/);
    bad({ rules: [{ to: [{ operation: { paths: ["/a/{**}/{*}"] } }] }] }, /invalid paths/);
    bad({ rules: [{ to: [{ operation: { methods: [""] } }] }] }, /invalid methods/);
    bad(
      { rules: [{ from: [{ source: { principals: ["a"], serviceAccounts: ["b"] } }] }] },
      /serviceAccounts with namespaces or principals/,
    );
    bad({ rules: [{ from: [{ source: { serviceAccounts: ["a/b/c"] } }] }] }, /invalid serviceAccounts/);
    bad({ rules: [{ when: [{ key: "request.time", values: ["x"] }] }] }, /unknown attribute/);
    bad({ rules: [{ when: [{ key: "request.headers", values: ["x"] }] }] }, /bad key/);
    bad(
      { rules: [{ when: [{ key: "destination.namespace", values: ["x"] }] }] },
      /replaced by metadata.namespace/,
    );
    bad({ rules: [{ when: [{ key: "source.ip", values: ["nope"] }] }] }, /invalid value/);
    bad({ rules: [{ when: [{ key: "source.ip" }] }] }, /at least one of values or notValues/);
    bad(
      { action: "CUSTOM", provider: { name: "e" }, rules: [{ from: [{ source: { principals: ["a"] } }] }] },
      /not supported with CUSTOM/,
    );
    bad({ rules: [{ when: [null] }] } as unknown as AuthorizationPolicySpec, /when key must not be empty/);
    bad(
      { rules: [{ to: [{ operation: { ports: [8000] } }] }] } as unknown as AuthorizationPolicySpec,
      /invalid ports/,
    );
  });
});
