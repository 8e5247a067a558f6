import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { referencedSecrets } from "./secrets.ts";

const policy = (spec: unknown): KubeObject => ({
  apiVersion: "gateway.kgateway.dev/v1alpha1",
  kind: "TrafficPolicy",
  metadata: { name: "p", namespace: "ns" },
  spec,
});

test("the Secrets a policy names: apiKeyAuth and basicAuth secretRef, its own namespace only", () => {
  assert.deepEqual(
    referencedSecrets(
      policy({
        apiKeyAuth: { secretRef: { name: "keys" } },
        basicAuth: { secretRef: { name: "users", key: "htpasswd" } },
      }),
    ),
    ["ns/keys", "ns/users"],
  );
  assert.deepEqual(
    referencedSecrets(policy({ apiKeyAuth: { secretRef: { name: "keys", namespace: "other" } } })),
    [],
  );
  assert.deepEqual(
    referencedSecrets(policy({ apiKeyAuth: { secretSelector: { matchLabels: { a: "b" } } } })),
    [],
  );
  assert.deepEqual(referencedSecrets(policy({ transformation: {} })), []);
  assert.deepEqual(referencedSecrets(policy(undefined)), []);
});
