import assert from "node:assert/strict";
import { test } from "node:test";
import type { WaypointManifest } from "@waymark/api";
import { manifestHashes } from "@waymark/bus";
import { contentHash, encodeResource, SECRET_TYPE_URL, TypeUrl } from "@waymark/envoy-proto";
import { configDump } from "./config-dump.ts";

test("config-dump decodes every blob a manifest names and reports the ones it cannot", () => {
  const cluster = encodeResource(TypeUrl.cluster, "kube_httpbin_httpbin3_8000", {
    name: "kube_httpbin_httpbin3_8000",
    type: "EDS",
    connectTimeout: "5s",
    edsClusterConfig: { edsConfig: { ads: {} } },
  });
  const h = contentHash(cluster);
  const m: WaypointManifest = {
    waypoint: { namespace: "httpbin", name: "kgateway-waypoint" },
    version: "v1",
    versions: { [TypeUrl.cluster]: "c1", [TypeUrl.route]: "r1" },
    resources: {
      [TypeUrl.cluster]: { kube_httpbin_httpbin3_8000: h },
      [TypeUrl.route]: { gone: "deadbeef" },
    },
    builtAt: "2026-01-01T00:00:00.000Z",
    trace: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  };
  assert.deepEqual([...manifestHashes(m)].sort(), [h, "deadbeef"].sort());
  const d = configDump(m, new Map([[h, cluster]]));
  assert.equal(d.waypoint, "httpbin/kgateway-waypoint");
  assert.equal(d.traceparent, m.trace!.traceparent);
  assert.deepEqual(d.types[TypeUrl.cluster], {
    version: "c1",
    resources: {
      kube_httpbin_httpbin3_8000: {
        name: "kube_httpbin_httpbin3_8000",
        type: "EDS",
        connectTimeout: "5s",
        edsClusterConfig: { edsConfig: { ads: {} } },
      },
    },
  });
  assert.deepEqual(d.problems, { deadbeef: "blob of gone is missing from wm-xds" });
});

test("config-dump redacts API keys and htpasswd users wherever they are, keeping the rest", async () => {
  const { redact, REDACTED } = await import("./config-dump.ts");
  const perRoute = {
    "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
    config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuthPerRoute",
      credentials: [{ key: "k-secret", client: "alice" }],
      keySources: [{ header: "x-api-key" }],
    },
  };
  const basic = {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuth",
    users: { inlineString: "alice:{SHA}abc=" },
    forwardUsernameHeader: "x-user",
  };
  const out = redact({ routes: [{ typedPerFilterConfig: { a: perRoute, b: basic } }] });
  const text = JSON.stringify(out);
  assert.ok(!text.includes("k-secret") && !text.includes("{SHA}abc="), text);
  assert.ok(text.includes('"client":"alice"') && text.includes("x-api-key") && text.includes("x-user"));
  assert.ok(text.includes(REDACTED));
});

test("config-dump redacts basicAuth users where Waymark puts them: FilterConfig per route and virtual host", () => {
  // The shape the translator's basicAuth feature emits (services/translator/testdata/trafficpolicy-basic-auth),
  // encoded and decoded as the xds-server serves it.
  const users = "alice:{SHA}g2YDYHBhl9R/ddqtGep+ipAO4aU=\nbob:{SHA}bOWgjgJew8XNjPXTyFghAc+ha1M=";
  const perRoute = {
    "waymark.basic_auth": {
      "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
      config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute",
        users: { inlineString: users },
      },
    },
  };
  const route = encodeResource(TypeUrl.route, "fc_http_80_shop_w", {
    name: "fc_http_80_shop_w",
    virtualHosts: [
      {
        name: "http_routes_shop_w",
        domains: ["*"],
        routes: [
          {
            name: "w/shop/rule0/match0",
            match: { prefix: "/" },
            route: { cluster: "kube_w_shop_80" },
            typedPerFilterConfig: perRoute,
          },
        ],
        typedPerFilterConfig: perRoute,
      },
    ],
  });
  const h = contentHash(route);
  const m: WaypointManifest = {
    waypoint: { namespace: "w", name: "waypoint" },
    version: "v1",
    versions: { [TypeUrl.route]: "r1" },
    resources: { [TypeUrl.route]: { fc_http_80_shop_w: h } },
    builtAt: "2026-01-01T00:00:00.000Z",
  };
  const d = configDump(m, new Map([[h, route]]));
  const text = JSON.stringify(d);
  assert.ok(!text.includes("{SHA}") && !text.includes("g2YDYHBhl9R"), text);
  const rc = d.types[TypeUrl.route]?.resources["fc_http_80_shop_w"] as {
    virtualHosts: Array<{ typedPerFilterConfig: unknown; routes: Array<{ typedPerFilterConfig: unknown }> }>;
  };
  const redacted = {
    "waymark.basic_auth": {
      "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
      config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute",
        users: "[redacted]",
      },
    },
  };
  assert.deepEqual(rc.virtualHosts[0]?.typedPerFilterConfig, redacted);
  assert.deepEqual(rc.virtualHosts[0]?.routes[0]?.typedPerFilterConfig, redacted);
});

test("config-dump shows an SDS secret's name and kind, never its value (OAuth2's client and HMAC secrets)", () => {
  const value = "test-only-client-secret";
  const bytes = encodeResource(SECRET_TYPE_URL, "oauth2/w/idp/client-secret", {
    name: "oauth2/w/idp/client-secret",
    genericSecret: { secret: { inlineString: value } },
  });
  const h = contentHash(bytes);
  const m: WaypointManifest = {
    waypoint: { namespace: "w", name: "waypoint" },
    version: "v1",
    versions: { [SECRET_TYPE_URL]: "s1" },
    resources: { [SECRET_TYPE_URL]: { "oauth2/w/idp/client-secret": h } },
    builtAt: "2026-01-01T00:00:00.000Z",
  };
  const d = configDump(m, new Map([[h, bytes]]));
  assert.deepEqual(d.types[SECRET_TYPE_URL]?.resources, {
    "oauth2/w/idp/client-secret": { name: "oauth2/w/idp/client-secret", genericSecret: "[redacted]" },
  });
  assert.ok(!JSON.stringify(d).includes(value));
});
