// The extAuth feature of TrafficPolicy: Envoy's ext_authz filter, one per ExtAuth GatewayExtension in
// force on a waypoint (named after it), each disabled in the connection manager and enabled per route
// entry (or virtual host, Gateway-level) by a FilterConfig holding an ExtAuthzPerRoute with that
// policy's check settings (context extensions, body). Where a policy is in force, the filters of all
// other ExtAuth extensions are turned off (FilterConfig disabled), so the more specific policy wins
// and `disable` turns every one off. A request the server refuses gets the server's answer (403 by
// default); the server unreachable gets statusOnError (403) unless the extension says failOpen.
// Invalid extAuth fails closed (500).
import type { ExtAuthzPerRouteJson } from "@waymark/envoy-proto";
import { filterOff, filterOn, pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { PolicyFeature } from "../feature.ts";
import { type ExtAuth, readExtAuth } from "./spec.ts";

const FILTER = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const PER_ROUTE = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";

/** The ext_authz filter of an extension (`<namespace>/<name>`). */
export function extAuthFilterName(extension: string): string {
  return `waymark.ext_authz/${extension}`;
}

export const extAuthFeature: PolicyFeature<ExtAuth> = {
  field: "extAuth",
  failClosed: true,
  read: readExtAuth,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  // Every usable extension of the namespace has its filter wherever any extAuth is in force, not only
  // those some route uses: a route moved from one extension to another then changes the route table
  // alone, and connections opened before go on being served. Were the new extension's filter added
  // to the listener instead, those connections (which keep their old filters while Envoy drains
  // them) would lack it: the guard (ir/guard.ts) refuses their requests rather than skip the check.
  filtersFor(values): PlacedHttpFilter[] {
    const seen = new Set<string>();
    const filters: PlacedHttpFilter[] = [];
    for (const { name, value } of values.flatMap((v) => v.servers)) {
      if (seen.has(name)) continue;
      seen.add(name);
      filters.push({
        slot: "extAuth",
        filter: { name: extAuthFilterName(name), disabled: true, typedConfig: pack(FILTER, value.config) },
      });
    }
    return filters;
  },
  backendsFor(values): BackendTarget[] {
    return values.flatMap((v) => v.servers.map((s) => s.value.backend));
  },
  perRoute(v): PerFilterConfig {
    const config: PerFilterConfig = {};
    for (const e of v.kind === "disable" ? v.all : v.others) config[extAuthFilterName(e)] = filterOff();
    if (v.kind === "check") {
      const perRoute: ExtAuthzPerRouteJson = { checkSettings: v.checkSettings };
      config[extAuthFilterName(v.extension)] = filterOn(pack(PER_ROUTE, perRoute));
    }
    return config;
  },
};
