// The transformation feature of TrafficPolicy: templates compiled to Lua and run by Envoy's built-in
// Lua filter. The filter sits, disabled, in every HTTP connection manager of a waypoint that uses
// it, with the template runtime once in its source_codes (TRANSFORMATION_SHARED_CODE). A route with
// a transformation enables it with a LuaPerRoute naming that code and carries only its program, in
// its metadata; routes without one run no Lua at all. A Gateway-level transformation (one per
// virtual host, not per route) keeps a self-contained chunk inline: virtual hosts have no metadata
// that the Lua filter reads.
import type { LuaJson, LuaPerRouteJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import type { PolicyFeature, RouteFilterMetadata } from "../feature.ts";
import {
  PROGRAM_KEY,
  TRANSFORMATION_SHARED_CODE,
  transformationChunk,
  transformationProgram,
} from "./chunk.ts";
import { readTransformation, type Transformation } from "./spec.ts";

export const TRANSFORMATION_FILTER = "waymark.transformation";

/** The name of the shared code in the filter's source_codes. */
export const SHARED_CODE_NAME = "runtime";

/**
 * A read transformation, its program (what a route carries) and its self-contained chunk (what a
 * virtual host carries); both undefined when it does nothing. Computed once.
 */
export interface TransformationValue {
  spec: Transformation;
  program: string | undefined;
  chunk: string | undefined;
}

const lua: LuaJson = {
  statPrefix: "transformation",
  sourceCodes: { [SHARED_CODE_NAME]: { inlineString: TRANSFORMATION_SHARED_CODE } },
};
const perRouteLua = pack("envoy.extensions.filters.http.lua.v3.LuaPerRoute", {
  name: SHARED_CODE_NAME,
} satisfies LuaPerRouteJson);

export const transformationFeature: PolicyFeature<TransformationValue> = {
  field: "transformation",
  read(value, { settings }) {
    const r = readTransformation(value, settings.templateLimits);
    if (!r.ok) return r;
    const spec = r.value;
    return {
      ok: true,
      value: { spec, program: transformationProgram(spec), chunk: transformationChunk(spec) },
    };
  },
  // The chunk (runtime + program) is everything the feature programs: the same chunk, the same configuration.
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
  perRoute({ program }): PerFilterConfig {
    return program === undefined ? {} : { [TRANSFORMATION_FILTER]: perRouteLua };
  },
  // handle:metadata() in the shared code reads the route's filter_metadata under the filter's name.
  routeMetadata({ program }): RouteFilterMetadata {
    if (program === undefined) return {};
    return { [TRANSFORMATION_FILTER]: { [PROGRAM_KEY]: program } };
  },
  perVirtualHost({ chunk }): PerFilterConfig {
    if (chunk === undefined) return {};
    const perRoute: LuaPerRouteJson = { sourceCode: { inlineString: chunk } };
    return { [TRANSFORMATION_FILTER]: pack("envoy.extensions.filters.http.lua.v3.LuaPerRoute", perRoute) };
  },
};

export { TRANSFORMATION_SHARED_CODE, transformationChunk, transformationProgram } from "./chunk.ts";
export { readTransformation, type Transformation } from "./spec.ts";
