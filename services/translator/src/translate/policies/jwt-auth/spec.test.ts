import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { GOLDEN_SETTINGS } from "../../golden-cases.ts";
import { indexObjects } from "../../input/objects.ts";
import { Extensions, sameNamespaceBackend } from "../extensions/resolve.ts";
import type { FeatureContext } from "../feature.ts";
import { readJwtAuth } from "./spec.ts";

const JWKS = JSON.stringify({
  keys: [
    {
      kty: "EC",
      crv: "P-256",
      x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
      y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
      kid: "k",
    },
  ],
});

function ctx(extensions: Record<string, unknown>): FeatureContext {
  const objects = new Map<string, KubeObject>(
    Object.entries(extensions).map(([name, spec]) => [
      `gateway.kgateway.dev/GatewayExtension/ns/${name}`,
      {
        apiVersion: "gateway.kgateway.dev/v1alpha1",
        kind: "GatewayExtension",
        metadata: { name, namespace: "ns" },
        spec,
      } as KubeObject,
    ]),
  );
  const index = indexObjects(objects);
  const all = new Extensions(index, GOLDEN_SETTINGS);
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    spec: {},
    targetKinds: new Set(["HTTPRoute"]),
    secret: () => undefined,
    secretsSelected: () => [],
    extension: (kind, ref, path) => all.resolve(kind, ref, path, "ns"),
    backend: (ref) => sameNamespaceBackend(ref, "ns", index),
  };
}

const messages = (r: ReturnType<typeof readJwtAuth>) =>
  r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);

test("extensionRef and disable: exactly one", () => {
  assert.match(messages(readJwtAuth({}, ctx({})))[0] ?? "", /exactly one of extensionRef and disable/);
  assert.match(
    messages(readJwtAuth({ disable: {}, extensionRef: { name: "x" } }, ctx({})))[0] ?? "",
    /exactly one/,
  );
  assert.deepEqual(readJwtAuth({ disable: {} }, ctx({})), { ok: true, value: { kind: "disable" } });
});

test("a missing extension, another namespace, a non-JWT extension are errors naming the field", () => {
  assert.match(
    messages(readJwtAuth({ extensionRef: { name: "x" } }, ctx({})))[0] ?? "",
    /^jwtAuth\.extensionRef: GatewayExtension ns\/x not found/,
  );
  assert.match(
    messages(readJwtAuth({ extensionRef: { name: "x", namespace: "other" } }, ctx({ x: {} })))[0] ?? "",
    /^jwtAuth\.extensionRef\.namespace: .*own namespace \(ns\)/,
  );
  assert.match(
    messages(readJwtAuth({ extensionRef: { name: "x" } }, ctx({ x: { extAuth: {} } })))[0] ?? "",
    /GatewayExtension ns\/x is of type ExtAuth, not JWT/,
  );
});

test("providers: inline JWKS, token source, claims; AllowMissing adds allow_missing", () => {
  const r = readJwtAuth(
    { extensionRef: { name: "x" } },
    ctx({
      x: {
        jwt: {
          validationMode: "AllowMissing",
          providers: [
            {
              name: "p",
              issuer: "iss",
              tokenSource: { queryParameter: "t" },
              claimsToHeaders: [{ name: "sub", header: "x-sub" }],
              jwks: { local: { inline: JWKS } },
            },
          ],
        },
      },
    }),
  );
  assert.ok(r.ok);
  assert.equal(r.value.kind, "require");
  if (r.value.kind !== "require") return;
  assert.deepEqual(Object.keys(r.value.providers), ["ns/x/p"]);
  const p = r.value.providers["ns/x/p"]!;
  assert.deepEqual(p.fromParams, ["t"]);
  assert.deepEqual(p.claimToHeaders, [{ claimName: "sub", headerName: "x-sub" }]);
  assert.equal(p.forward, false);
  assert.deepEqual(r.value.requirement, {
    requiresAny: { requirements: [{ providerName: "ns/x/p" }, { allowMissing: {} }] },
  });
});

test("unusable JWKS sources are errors: not JSON, ConfigMap, https, an unknown backend", () => {
  const read = (jwks: unknown) =>
    messages(
      readJwtAuth({ extensionRef: { name: "x" } }, ctx({ x: { jwt: { providers: [{ name: "p", jwks }] } } })),
    );
  assert.match(read({ local: { inline: "nope" } })[0] ?? "", /jwks\.local\.inline: not JSON/);
  assert.match(read({ local: { configMapRef: { name: "c" } } })[0] ?? "", /does not read ConfigMaps/);
  const remote = read({
    remote: { url: "https://keys.example/jwks", backendRef: { name: "jwks", port: 80 } },
  });
  assert.ok(remote.some((m) => /only http is supported/.test(m)));
  assert.ok(remote.some((m) => /jwks\.remote\.backendRef: Service jwks not found/.test(m)));
  assert.match(read({})[0] ?? "", /exactly one of local and remote/);
});
