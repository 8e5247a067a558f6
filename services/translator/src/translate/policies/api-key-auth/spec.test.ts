import assert from "node:assert/strict";
import { test } from "node:test";
import type { Secret } from "@waymark/api";
import { GOLDEN_SETTINGS } from "../../golden-cases.ts";
import type { FeatureContext } from "../feature.ts";
import { readApiKeyAuth } from "./spec.ts";

const secret = (name: string, stringData: Record<string, string>): Secret => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace: "ns" },
  stringData,
});

function ctx(secrets: Secret[]): FeatureContext {
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    spec: {},
    targetKinds: new Set(["HTTPRoute"]),
    secret: (n) => secrets.find((s) => s.metadata.name === n),
    secretsSelected: () => secrets,
    extension: () => ({ ok: false, errors: [{ path: "-", message: "no GatewayExtensions here" }] }),
    backend: () => ({ ok: false, message: "none" }),
  };
}
const errors = (r: ReturnType<typeof readApiKeyAuth>) =>
  r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);

test("exactly one of secretRef, secretSelector, disable", () => {
  assert.match(
    errors(readApiKeyAuth({}, ctx([])))[0] ?? "",
    /exactly one of secretRef, secretSelector and disable/,
  );
  assert.deepEqual(readApiKeyAuth({ disable: {} }, ctx([])), { ok: true, value: { kind: "disable" } });
});

test("entries are clients; defaults: header api-key, key hidden from upstream", () => {
  const r = readApiKeyAuth({ secretRef: { name: "k" } }, ctx([secret("k", { alice: "k1", bob: "k2" })]));
  assert.ok(r.ok && r.value.kind === "require");
  if (!r.ok || r.value.kind !== "require") return;
  assert.deepEqual(r.value.config, {
    credentials: [
      { key: "k1", client: "alice" },
      { key: "k2", client: "bob" },
    ],
    keySources: [{ header: "api-key" }],
    forwarding: { hideCredentials: true },
  });
});

test("errors name the Secret and entry, never the key", () => {
  const dup = errors(
    readApiKeyAuth({ secretRef: { name: "k" } }, ctx([secret("k", { a: "same-key", b: "same-key" })])),
  );
  assert.equal(dup.length, 1);
  assert.match(dup[0] ?? "", /Secret ns\/k entry b repeats another client's key/);
  assert.ok(!dup[0]?.includes("same-key"));
  assert.match(
    errors(readApiKeyAuth({ secretRef: { name: "x" } }, ctx([])))[0] ?? "",
    /Secret ns\/x not found/,
  );
  assert.match(
    errors(readApiKeyAuth({ secretRef: { name: "x", namespace: "other" } }, ctx([])))[0] ?? "",
    /secretRef\.namespace: .*own namespace/,
  );
  assert.match(
    errors(
      readApiKeyAuth(
        { secretRef: { name: "k" }, keySources: [{ header: "bad header" }] },
        ctx([secret("k", { a: "x" })]),
      ),
    )[0] ?? "",
    /keySources\[0\]\.header/,
  );
});
