// The transformation feature of TrafficPolicy: templates compiled to Lua and run by Envoy's built-in
// Lua filter. The filter sits, disabled, in every HTTP connection manager of a waypoint that uses
// it; a route (or virtual host) with a transformation enables it with a LuaPerRoute carrying the
// chunk inline, so routes without one run no Lua at all.
import type { JsonObject } from "@waymark/envoy-proto";
import type { PolicyFeature } from "../index.ts";
import { transformationChunk } from "./chunk.ts";
import { readTransformation, type Transformation } from "./spec.ts";

export const TRANSFORMATION_FILTER = "waymark.transformation";
const T = "type.googleapis.com/";

export const transformationFeature: PolicyFeature<Transformation> = {
  field: "transformation",
  httpFilters: [
    {
      name: TRANSFORMATION_FILTER,
      disabled: true,
      typedConfig: { "@type": `${T}envoy.extensions.filters.http.lua.v3.Lua`, statPrefix: "transformation" },
    },
  ],
  read: (value, settings) => readTransformation(value, settings.templateLimits),
  perFilterConfig(config: Transformation): Record<string, JsonObject> {
    const chunk = transformationChunk(config);
    if (chunk === undefined) return {};
    return {
      [TRANSFORMATION_FILTER]: {
        "@type": `${T}envoy.extensions.filters.http.lua.v3.LuaPerRoute`,
        sourceCode: { inlineString: chunk },
      },
    };
  },
};

export { transformationChunk } from "./chunk.ts";
export { readTransformation, type Transformation } from "./spec.ts";
