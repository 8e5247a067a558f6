// The token a waypoint Deployment projects is the one the xds-server accepts: the same audience by
// default and when WAYMARK_XDS_TOKEN_AUDIENCE sets it for both, mounted where the bootstrap reads it.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Gateway, KubeObject } from "@waymark/api";
import { XDS_TOKEN_AUDIENCE } from "@waymark/waypoint";
import { loadConfig as loadXdsConfig } from "@waymark/xds-server";
import { loadInfraSettings } from "./config.ts";
import { waypointInfra } from "./objects.ts";

const gateway: Gateway = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name: "kgateway-waypoint", namespace: "httpbin", uid: "u1" },
  spec: { gatewayClassName: "kgateway-waypoint", listeners: [] },
} as unknown as Gateway;

type Pod = {
  serviceAccountName: string;
  containers: Array<{ volumeMounts: Array<{ name: string; mountPath: string }> }>;
  volumes: Array<{
    name: string;
    projected?: {
      sources: Array<{ serviceAccountToken?: { audience: string; expirationSeconds: number; path: string } }>;
    };
  }>;
};

function generated(env: Record<string, string>) {
  const objects = waypointInfra(
    {
      gateway,
      ref: { namespace: "httpbin", name: "kgateway-waypoint" },
      className: "c",
      listenerPorts: [15088],
    },
    loadInfraSettings(env),
  );
  const byKind = (k: string) => objects.find((o) => o.kind === k) as KubeObject & Record<string, unknown>;
  const pod = (byKind("Deployment")["spec"] as { template: { spec: Pod } }).template.spec;
  const volume = pod.volumes.find((v) => v.projected?.sources.some((s) => s.serviceAccountToken))!;
  const token = volume.projected!.sources.find((s) => s.serviceAccountToken)!.serviceAccountToken!;
  const mount = pod.containers[0]!.volumeMounts.find((m) => m.name === volume.name)!;
  return { pod, token, mount, data: byKind("ConfigMap")["data"] as Record<string, string> };
}

test("the projected token's audience is the xds-server's, by default and when both are configured", () => {
  const d = generated({});
  assert.equal(d.token.audience, XDS_TOKEN_AUDIENCE);
  assert.equal(d.token.audience, loadXdsConfig({}).tokenAudience);
  const env = { WAYMARK_XDS_TOKEN_AUDIENCE: "mesh-xds" };
  assert.equal(generated(env).token.audience, loadXdsConfig(env).tokenAudience);
  assert.equal(generated(env).token.audience, "mesh-xds");
});

test("the token is projected for the waypoint's ServiceAccount, at the file the bootstrap reads", () => {
  const d = generated({});
  assert.equal(d.pod.serviceAccountName, "kgateway-waypoint");
  assert.ok(d.token.expirationSeconds >= 600, "the TokenRequest API's minimum");
  const file = `${d.mount.mountPath}/${d.token.path}`;
  const sds = JSON.parse(d.data["xds-token-sds.json"]!) as {
    resources: Array<{ generic_secret: { secret: { filename: string } } }>;
  };
  assert.equal(sds.resources[0]!.generic_secret.secret.filename, file);
  // The bootstrap watches the mount's directory, so a rotated token (a `..data` swap) is read again.
  const compact = JSON.stringify(JSON.parse(d.data["envoy.json"]!));
  assert.ok(
    compact.includes(`"watched_directory":${JSON.stringify({ path: d.mount.mountPath })}`),
    "watched_directory is the token mount",
  );
});
