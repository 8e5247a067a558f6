// Istio's mesh config, as istiod reads it: the ConfigMap `istio` in the Istio namespace
// (WAYMARK_ROOT_NAMESPACE, default istio-system), key `mesh`. The translator reads its
// extensionProviders (AuthorizationPolicy action CUSTOM). It is the only ConfigMap the watcher
// forwards, from either source, and only its `mesh` key: never its other keys or its annotations
// (kubectl's last-applied-configuration would repeat the whole object).
import type { KubeObject } from "@waymark/api";

export const MESH_CONFIGMAP_NAME = "istio";
export const MESH_CONFIGMAP_KEY = "mesh";
export const DEFAULT_ISTIO_NAMESPACE = "istio-system";

/** Whether a ConfigMap of this namespace and name is the mesh config. */
export const isMeshConfigMap = (namespace: string | undefined, name: string, istioNamespace: string) =>
  namespace === istioNamespace && name === MESH_CONFIGMAP_NAME;

/** The form published: apiVersion, kind, metadata without annotations and server fields, data.mesh. */
export function meshConfigMapForm(o: KubeObject): KubeObject {
  const metadata: Record<string, unknown> = { ...o.metadata };
  for (const k of ["annotations", "managedFields", "resourceVersion"]) delete metadata[k];
  const data = (o as { data?: unknown }).data;
  const mesh =
    typeof data === "object" && data !== null
      ? (data as Record<string, unknown>)[MESH_CONFIGMAP_KEY]
      : undefined;
  const out: KubeObject & { data?: Record<string, string> } = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: metadata as unknown as KubeObject["metadata"],
  };
  if (typeof mesh === "string") out.data = { [MESH_CONFIGMAP_KEY]: mesh };
  return out;
}
