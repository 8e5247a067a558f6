// The Kubernetes objects a waypoint Gateway needs in a cluster, as kgateway's deployer makes them:
// a ServiceAccount, a ConfigMap with the Envoy bootstrap, a Service (one port per listener port plus
// 15008) and a Deployment, all named after the Gateway, owned by it, labelled and annotated alike.
// Pure: the same Gateway and settings give the same objects.
import { createHash } from "node:crypto";
import type { Gateway, KubeObject, OwnerReference, WaypointRef } from "@waymark/api";
import { GATEWAY_GROUP } from "@waymark/api";
import { renderBootstrap, renderTokenSds, WAYPOINT_DRAIN_ARGS, XDS_TOKEN_AUDIENCE } from "@waymark/waypoint";

export interface InfraSettings {
  /** Where the waypoint Envoys find the xds-server: a DNS name (a Service) or an IP, and a port. */
  xds: { host: string; port: number };
  /** Envoy image of the proxy container (an image whose `envoy` is Envoy 1.40). */
  image: string;
  /** Audience of the projected service-account token Envoy sends to the xds-server. */
  tokenAudience: string;
}

export const DEFAULT_INFRA_SETTINGS: InfraSettings = {
  xds: { host: "waymark-xds-server.waymark-system.svc.cluster.local.", port: 18000 },
  image: "docker.io/envoyproxy/envoy:v1.40.0",
  tokenAudience: XDS_TOKEN_AUDIENCE,
};

/** Port kgateway adds to every waypoint Service (ztunnel's HBONE port); no traffic uses it. */
export const HBONE_PORT = 15008;
export const READINESS_PORT = 8082;
export const BOOTSTRAP_FILE = "envoy.json";
/** The file-based SDS resource naming the xDS token file (see renderTokenSds()). */
export const TOKEN_SDS_FILE = "xds-token-sds.json";
export const CONFIG_DIR = "/etc/envoy";
export const TOKEN_DIR = "/var/run/secrets/xds-tokens";
export const TOKEN_FILE = `${TOKEN_DIR}/token`;
const CONTAINER = "kgateway-proxy";

/** Object name for a Gateway: kept when ≤ 63 characters, else 50 characters + `-` + 12 hex of its sha256. */
export function infraName(gateway: string): string {
  if (gateway.length <= 63) return gateway;
  return `${gateway.slice(0, 50)}-${createHash("sha256").update(gateway).digest("hex").slice(0, 12)}`;
}

export interface WaypointInfraInput {
  gateway: Gateway;
  ref: WaypointRef;
  className: string;
  /** Ports of the Gateway's listeners (valid ones), in listener order. */
  listenerPorts: readonly number[];
}

function selectorLabels(name: string, gateway: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/instance": name,
    "gateway.networking.k8s.io/gateway-name": gateway,
  };
}

function commonLabels(name: string, i: WaypointInfraInput, version: string): Record<string, string> {
  return {
    ...selectorLabels(name, i.ref.name),
    "app.kubernetes.io/version": version,
    "app.kubernetes.io/component": "proxy",
    "app.kubernetes.io/managed-by": "waymark",
    "gateway.networking.k8s.io/gateway-class-name": i.className,
    kgateway: "kube-gateway",
  };
}

function ownerOf(g: Gateway): OwnerReference[] | undefined {
  const uid = g.metadata.uid;
  if (!uid) return undefined;
  return [
    {
      apiVersion: `${GATEWAY_GROUP}/v1`,
      kind: "Gateway",
      name: g.metadata.name,
      uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

/** The image tag (e.g. `v1.40.0`), used as app.kubernetes.io/version. */
function imageVersion(image: string): string {
  const at = image.indexOf("@");
  const ref = at < 0 ? image : image.slice(0, at);
  const colon = ref.lastIndexOf(":");
  return colon > ref.lastIndexOf("/") ? ref.slice(colon + 1) : "latest";
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** The four objects of one waypoint, in the order they are applied. */
export function waypointInfra(i: WaypointInfraInput, s: InfraSettings): KubeObject[] {
  const name = infraName(i.ref.name);
  const namespace = i.ref.namespace;
  const version = imageVersion(s.image);
  const labels = commonLabels(name, i, version);
  const owners = ownerOf(i.gateway);
  const meta = () => ({
    name,
    namespace,
    labels: { ...labels },
    ...(owners ? { ownerReferences: owners.map((o) => ({ ...o })) } : {}),
  });

  const bootstrap = renderBootstrap({
    waypoint: i.ref,
    // The container passes --service-node $(POD_NAME).$(POD_NAMESPACE), which replaces node.id.
    podName: name,
    xds: [s.xds],
    xdsResolution: "STRICT_DNS",
    readinessPort: READINESS_PORT,
    xdsToken: { file: TOKEN_FILE, sdsFile: `${CONFIG_DIR}/${TOKEN_SDS_FILE}` },
  });
  const bootstrapText = `${JSON.stringify(bootstrap, null, 2)}\n`;
  const tokenSdsText = `${JSON.stringify(renderTokenSds(TOKEN_FILE), null, 2)}\n`;

  const ports = [...new Set([...i.listenerPorts, HBONE_PORT])];
  const serviceAccount: KubeObject = { apiVersion: "v1", kind: "ServiceAccount", metadata: meta() };
  const configMap: KubeObject = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(),
    data: { [BOOTSTRAP_FILE]: bootstrapText, [TOKEN_SDS_FILE]: tokenSdsText },
  };
  const service: KubeObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(),
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(name, i.ref.name),
      ports: ports.map((p) => ({ name: `listener-${p}`, port: p, targetPort: p, protocol: "TCP" })),
    },
  };
  const fieldEnv = (envName: string, fieldPath: string) => ({
    name: envName,
    valueFrom: { fieldRef: { apiVersion: "v1", fieldPath } },
  });
  const deployment: KubeObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(),
    spec: {
      replicas: 1,
      selector: { matchLabels: selectorLabels(name, i.ref.name) },
      template: {
        metadata: {
          labels: { ...labels, "istio.io/dataplane-mode": "ambient" },
          annotations: {
            "ambient.istio.io/dns-capture": "false",
            "gateway.kgateway.dev/gateway-full-name": `${namespace}.${i.ref.name}`,
            // A new bootstrap needs a new Envoy: the pod template changes with it.
            "waymark.dev/bootstrap-hash": sha(bootstrapText + tokenSdsText).slice(0, 16),
          },
        },
        spec: {
          serviceAccountName: name,
          containers: [
            {
              name: CONTAINER,
              image: s.image,
              command: ["envoy"],
              args: [
                "-c",
                `${CONFIG_DIR}/${BOOTSTRAP_FILE}`,
                "--disable-hot-restart",
                "--service-node",
                "$(POD_NAME).$(POD_NAMESPACE)",
                "--log-level",
                "info",
                ...WAYPOINT_DRAIN_ARGS,
              ],
              env: [
                fieldEnv("POD_NAME", "metadata.name"),
                fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                fieldEnv("POD_UID", "metadata.uid"),
                fieldEnv("NODE_NAME", "spec.nodeName"),
                { name: "ENVOY_UID", value: "0" },
              ],
              ports: [
                ...ports.map((p) => ({ name: `listener-${p}`, containerPort: p, protocol: "TCP" })),
                { name: "readiness", containerPort: READINESS_PORT, protocol: "TCP" },
              ],
              readinessProbe: {
                httpGet: { path: "/ready", port: READINESS_PORT },
                periodSeconds: 5,
              },
              volumeMounts: [
                { name: "envoy-config", mountPath: CONFIG_DIR, readOnly: true },
                { name: "xds-token", mountPath: TOKEN_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: "envoy-config", configMap: { name } },
            {
              name: "xds-token",
              projected: {
                sources: [
                  {
                    serviceAccountToken: {
                      audience: s.tokenAudience,
                      expirationSeconds: 3600,
                      path: "token",
                    },
                  },
                ],
              },
            },
          ],
        },
      },
    },
  };
  return [serviceAccount, configMap, service, deployment];
}

/** Hashes by the very array hashed: a translation memo hands back the same objects for an unchanged waypoint. */
const infraHashes = new WeakMap<readonly KubeObject[], string>();

/** Content hash of a waypoint's objects (key order does not matter). The objects are never mutated after a build. */
export function infraHash(objects: readonly KubeObject[]): string {
  const known = infraHashes.get(objects);
  if (known !== undefined) return known;
  const canon = JSON.stringify(objects, (_k, v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
  const hash = sha(canon).slice(0, 16);
  infraHashes.set(objects, hash);
  return hash;
}
