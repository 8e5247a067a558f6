// The transformation feature of TrafficPolicy: templates compiled to Lua and run by Envoy's built-in
// Lua filter. The filter sits, disabled, in every HTTP connection manager of a waypoint that uses
// it; a route (or virtual host) with a transformation enables it with a LuaPerRoute carrying the
// chunk inline, so routes without one run no Lua at all.
import type { LuaJson, LuaPerRouteJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import type { PolicyFeature } from "../feature.ts";
import { transformationChunk } from "./chunk.ts";
import { readTransformation, type Transformation } from "./spec.ts";

export const TRANSFORMATION_FILTER = "waymark.transformation";

/** A read transformation and its Lua chunk (undefined: it does nothing), computed once. */
export interface TransformationValue {
  spec: Transformation;
  chunk: string | undefined;
}

const lua: LuaJson = { statPrefix: "transformation" };

export const transformationFeature: PolicyFeature<TransformationValue> = {
  field: "transformation",
  read(value, settings) {
    const r = readTransformation(value, settings.templateLimits);
    return r.ok ? { ok: true, value: { spec: r.value, chunk: transformationChunk(r.value) } } : r;
  },
  // The chunk is everything the feature programs: the same chunk, the same configuration.
  equal: (a, b) => a.chunk === b.chunk,
  httpFilters: [
    {
      slot: "transformation",
      filter: {
        name: TRANSFORMATION_FILTER,
        disabled: true,
        typedConfig: pack("envoy.extensions.filters.http.lua.v3.Lua", lua),
      },
    },
  ],
  perRoute({ chunk }): PerFilterConfig {
    if (chunk === undefined) return {};
    const perRoute: LuaPerRouteJson = { sourceCode: { inlineString: chunk } };
    return { [TRANSFORMATION_FILTER]: pack("envoy.extensions.filters.http.lua.v3.LuaPerRoute", perRoute) };
  },
};

export { transformationChunk } from "./chunk.ts";
export { readTransformation, type Transformation } from "./spec.ts";
