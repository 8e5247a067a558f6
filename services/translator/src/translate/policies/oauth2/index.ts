// The oauth2 feature of TrafficPolicy: Envoy's oauth2 filter (the authorization code flow: a browser
// without a session is sent to the provider's login, the callback's code is exchanged for tokens at
// the token endpoint through the IdP's Service, and the session lives in HMAC-signed cookies). The
// filter has no per-route config, so each OAuth2 GatewayExtension in force on a waypoint is one filter,
// placed disabled in every connection manager and enabled per route entry (or per virtual host,
// Gateway-level) by a FilterConfig whose config is an empty Any. Its client and HMAC secrets are SDS resources of the
// waypoint's snapshot. Invalid oauth2 fails closed.
import { filterOff, filterOn, pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { PolicyFeature } from "../feature.ts";
import { type OAuth2, type OAuth2Filter, readOAuth2Policy } from "./spec.ts";

const FILTER = "envoy.extensions.filters.http.oauth2.v3.OAuth2";

/** Every extension's filter of the values in force, each once, by name. */
function each(values: readonly OAuth2[]): OAuth2Filter[] {
  const seen = new Map<string, OAuth2Filter>();
  for (const f of values.flatMap((v) => v.all)) if (!seen.has(f.filterName)) seen.set(f.filterName, f);
  return [...seen.values()].sort((a, b) => (a.filterName < b.filterName ? -1 : 1));
}

export const oauth2Feature: PolicyFeature<OAuth2> = {
  field: "oauth2",
  failClosed: true,
  read: readOAuth2Policy,
  equal: (a, b) =>
    a.filterName === b.filterName &&
    a.key === b.key &&
    a.all.map((f) => f.key).join("\n") === b.all.map((f) => f.key).join("\n"),
  filtersFor(values): PlacedHttpFilter[] {
    return each(values).map((f) => ({
      slot: "oauth2",
      filter: { name: f.filterName, disabled: true, typedConfig: pack(FILTER, f.filter) },
    }));
  },
  backendsFor(values): BackendTarget[] {
    return each(values).map((f) => f.backend);
  },
  secretsFor(values) {
    return each(values).flatMap((f) => f.secrets);
  },
  perRoute(v): PerFilterConfig {
    // The other extensions' filters off: a route-level policy replaces a Gateway-level one.
    const config: PerFilterConfig = {};
    for (const f of v.all) if (f.filterName !== v.filterName) config[f.filterName] = filterOff();
    // An empty Any as the config (no type URL): Envoy's way to enable a filter placed disabled that
    // has no per-route config of its own (a FilterConfig without config is refused).
    config[v.filterName] = filterOn();
    return config;
  },
};
