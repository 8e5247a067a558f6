// The extProc feature of TrafficPolicy: one Envoy ext_proc filter per ExtProc GatewayExtension in
// force on a waypoint (named after the extension, as kgateway does), disabled in every connection
// manager and enabled per route entry with an ExtProcPerRoute (the policy's processingMode, if any,
// overrides the extension's). A Gateway-level policy marks the filter on the virtual host (disabled,
// so the filter is emitted) and enables it on each route entry no route-level or rule-level extProc
// sets: a route-level `disable` or another extension then wins where it is in force. When the server
// cannot be reached, Envoy answers 500 unless the extension says failOpen (kgateway's default: true).
// Invalid extProc fails closed: what a processor does (redaction, checks) must not be skipped.
import type { ExtProcPerRouteJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { PolicyFeature } from "../feature.ts";
import { type ExtProc, readExtProc } from "./spec.ts";

const FILTER = "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const PER_ROUTE = "envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute";

function enabling(v: Extract<ExtProc, { kind: "process" }>): PerFilterConfig {
  const c: ExtProcPerRouteJson = {
    overrides: v.processingMode === undefined ? {} : { processingMode: v.processingMode },
  };
  return { [v.filterName]: pack(PER_ROUTE, c) };
}

export const extProcFeature: PolicyFeature<ExtProc> = {
  field: "extProc",
  failClosed: true,
  read: readExtProc,
  equal: (a, b) => a.kind === b.kind && (a.kind === "disable" || (b.kind === "process" && a.key === b.key)),
  filtersFor(values): PlacedHttpFilter[] {
    const out: PlacedHttpFilter[] = [];
    for (const v of values) {
      if (v.kind !== "process" || out.some((f) => f.filter.name === v.filterName)) continue;
      out.push({
        slot: "extProc",
        filter: { name: v.filterName, disabled: true, typedConfig: pack(FILTER, v.filter) },
      });
    }
    return out;
  },
  backendsFor(values): BackendTarget[] {
    return values.flatMap((v) => (v.kind === "process" ? [v.backend] : []));
  },
  perRoute(v): PerFilterConfig {
    return v.kind === "process" ? enabling(v) : {};
  },
  perVirtualHost(v): PerFilterConfig {
    // Off on the virtual host itself; editRoute turns it on per entry (see above).
    if (v.kind !== "process") return {};
    return { [v.filterName]: pack(PER_ROUTE, { disabled: true } satisfies ExtProcPerRouteJson) };
  },
  editRoute(v, route, site): void {
    // Route-level and rule-level values are programmed by perRoute; only the Gateway-level one
    // (site undefined) is put on each entry here.
    if (site !== undefined || v.kind !== "process") return;
    route.typedPerFilterConfig = { ...route.typedPerFilterConfig, ...enabling(v) };
  },
};
