// TrafficPolicy buffer: the whole request body is buffered before it goes upstream, up to
// maxRequestSize bytes; a larger body is answered 413. As in kgateway, Envoy's buffer filter sits,
// disabled, in the connection manager (its own limit the largest possible, never used) and a route
// entry or virtual host enables it with a BufferPerRoute holding the limit; `disable: {}` turns a
// Gateway-level buffer off for a route.
import type { BufferJson, BufferPerRouteJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import { FieldErrors, type PolicyFeature } from "../feature.ts";
import { object, readDisable, readQuantity, unknownKeys } from "../read.ts";

export const BUFFER_FILTER = "envoy.filters.http.buffer";

/** Bytes to buffer at most; undefined: the buffer is disabled. */
export interface BufferValue {
  maxRequestBytes: number | undefined;
  /** A filterStage was given (accepted; the filter keeps its slot). */
  stage: boolean;
}

const MAX_BYTES = 2 ** 32; // 4Gi, exclusive: Envoy's limit is a uint32

export const bufferFeature: PolicyFeature<BufferValue> = {
  field: "buffer",
  read(value) {
    const errors = new FieldErrors();
    const v = object(value, "buffer", errors);
    let maxRequestBytes: number | undefined;
    let stage = false;
    if (v) {
      unknownKeys(v, ["maxRequestSize", "disable", "filterStage"], "buffer", errors);
      const disable = readDisable(v.disable, "buffer.disable", errors);
      if (disable === (v.maxRequestSize !== undefined))
        errors.at("buffer", "set exactly one of maxRequestSize and disable");
      else if (!disable) {
        const n = readQuantity(v.maxRequestSize, "buffer.maxRequestSize", errors);
        if (n !== undefined && (n <= 0 || n >= MAX_BYTES))
          errors.at("buffer.maxRequestSize", "must be greater than 0 and less than 4Gi");
        else maxRequestBytes = n;
      }
      stage = v.filterStage !== undefined;
    }
    if (errors.length) return { ok: false, errors: errors.list };
    return { ok: true, value: { maxRequestBytes, stage } };
  },
  equal: (a, b) => a.maxRequestBytes === b.maxRequestBytes && a.stage === b.stage,
  httpFilters: [
    {
      slot: "buffer",
      filter: {
        name: BUFFER_FILTER,
        disabled: true,
        typedConfig: pack("envoy.extensions.filters.http.buffer.v3.Buffer", {
          maxRequestBytes: MAX_BYTES - 1,
        } satisfies BufferJson),
      },
    },
  ],
  perRoute({ maxRequestBytes }): PerFilterConfig {
    const perRoute: BufferPerRouteJson =
      maxRequestBytes === undefined ? { disabled: true } : { buffer: { maxRequestBytes } };
    return { [BUFFER_FILTER]: pack("envoy.extensions.filters.http.buffer.v3.BufferPerRoute", perRoute) };
  },
  ignored: (v) => (v.stage ? ["buffer.filterStage"] : []),
};
