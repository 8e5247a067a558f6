// What a simulated proxy must read from its resources, as Envoy does: the EDS names of its clusters
// and the RDS names of its listeners' HTTP connection managers. Each distinct resource (by content
// hash) is decoded once per process, however many proxies receive it.
import { createHash } from "node:crypto";
import { decodeResource, type JsonObject, TypeUrl } from "@waymark/envoy-proto";

export interface ResourceRefs {
  name: string;
  /** EDS names (of a cluster) or RDS names (of a listener); empty for other types. */
  refs: readonly string[];
}

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

function clusterRefs(json: JsonObject): string[] {
  if (json["type"] !== "EDS") return [];
  const eds = json["edsClusterConfig"] as JsonObject | undefined;
  return [String(eds?.["serviceName"] || json["name"] || "")];
}

function listenerRefs(json: JsonObject): string[] {
  const out = new Set<string>();
  const chains = [...((json["filterChains"] as JsonObject[] | undefined) ?? [])];
  if (json["defaultFilterChain"]) chains.push(json["defaultFilterChain"] as JsonObject);
  for (const chain of chains) {
    for (const f of (chain["filters"] as JsonObject[] | undefined) ?? []) {
      const cfg = f["typedConfig"] as JsonObject | undefined;
      if (cfg?.["@type"] !== HCM) continue;
      const rds = cfg["rds"] as JsonObject | undefined;
      if (rds?.["routeConfigName"]) out.add(String(rds["routeConfigName"]));
    }
  }
  return [...out];
}

export class RefCache {
  readonly #byHash = new Map<string, ResourceRefs>();
  /** Resources decoded so far (distinct contents). */
  decoded = 0;

  /** The name and references of a CDS or LDS resource; other types are not decoded (name ""). */
  read(typeUrl: string, value: Uint8Array): ResourceRefs {
    if (typeUrl !== TypeUrl.cluster && typeUrl !== TypeUrl.listener) return { name: "", refs: [] };
    const key = createHash("sha1").update(value).digest("base64");
    let r = this.#byHash.get(key);
    if (!r) {
      const json = decodeResource(typeUrl, value) as JsonObject;
      r = {
        name: String(json["name"] ?? ""),
        refs: typeUrl === TypeUrl.cluster ? clusterRefs(json) : listenerRefs(json),
      };
      this.#byHash.set(key, r);
      this.decoded++;
      if (this.#byHash.size > 200_000) this.#byHash.clear();
    }
    return r;
  }
}
