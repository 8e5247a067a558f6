// TrafficPolicy compression: responseCompression (gzip, brotli, zstd, negotiated with the client's
// Accept-Encoding) and requestDecompression (request bodies in the listed codecs decompressed before
// they go upstream). As in kgateway: one compressor filter per codec, and per codec with other
// settings (minContentLengthBytes, contentTypes: Envoy cannot override them per route, so they live
// in the filter, whose name then carries a digest of them), all disabled in the connection manager;
// a route entry enables the ones it offers with a FilterConfig (its config empty). Decompressors alike, one per
// codec, only for requests. `disable: {}` switches every codec's filter off on a route.
// responseCompression is for HTTPRoute targets only: a Gateway-level policy programs only its
// requestDecompression.
import { createHash } from "node:crypto";
import type { CompressorJson, DecompressorJson, FilterConfigJson } from "@waymark/envoy-proto";
import { filterOn, pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import { type FeatureContext, FieldErrors, type PolicyFeature } from "../feature.ts";
import { object, readDisable, readInt, readStrings, unknownKeys } from "../read.ts";

export const COMPRESSOR_FILTER = "envoy.filters.http.compressor";
export const DECOMPRESSOR_FILTER = "envoy.filters.http.decompressor";

export type Library = "Gzip" | "Brotli" | "Zstd";
const LIBRARIES: readonly Library[] = ["Gzip", "Brotli", "Zstd"];
const CODEC: Record<Library, string> = { Gzip: "gzip", Brotli: "brotli", Zstd: "zstd" };

export interface ResponseCompression {
  libraries: Library[];
  minContentLength: number | undefined;
  /** Sorted; undefined: Envoy's default content types. */
  contentTypes: string[] | undefined;
}

export interface CompressionValue {
  /** undefined: not set; "disabled": disable: {}. */
  response: ResponseCompression | "disabled" | undefined;
  /** Sorted (Envoy picks the decompressor by Content-Encoding: the order does not matter). */
  request: Library[] | "disabled" | undefined;
  /** The policy targets a Gateway, where responseCompression is not honored. */
  gatewayTarget: boolean;
}

/** The bare name for a codec; with settings, the name plus a digest of them. */
export function compressorName(library: Library, settings?: ResponseCompression): string {
  const base = library === "Gzip" ? COMPRESSOR_FILTER : `${COMPRESSOR_FILTER}.${CODEC[library]}`;
  if (!settings || (settings.minContentLength === undefined && settings.contentTypes === undefined))
    return base;
  const digest = createHash("sha256")
    .update(JSON.stringify([settings.minContentLength ?? null, settings.contentTypes ?? null]))
    .digest("hex")
    .slice(0, 12);
  return `${base}.${digest}`;
}

export function decompressorName(library: Library): string {
  return library === "Gzip" ? DECOMPRESSOR_FILTER : `${DECOMPRESSOR_FILTER}.${CODEC[library]}`;
}

function libraries(v: unknown, path: string, errors: FieldErrors): Library[] {
  const list = readStrings(v, path, errors, 3);
  if (list === undefined) return ["Gzip"];
  if (list.length === 0) errors.at(path, "list at least one codec (or leave libraries out for Gzip)");
  const out: Library[] = [];
  list.forEach((l, i) => {
    if (!LIBRARIES.includes(l as Library))
      errors.at(`${path}[${i}]`, `${JSON.stringify(l)} is not one of ${LIBRARIES.join(", ")}`);
    else if (out.includes(l as Library)) errors.at(`${path}[${i}]`, `${l} is listed twice`);
    else out.push(l as Library);
  });
  return out;
}

export function readCompression(
  value: unknown,
  ctx: Pick<FeatureContext, "targetKinds">,
): { ok: true; value: CompressionValue } | { ok: false; errors: FieldErrors["list"] } {
  const errors = new FieldErrors();
  const v = object(value, "compression", errors);
  const out: CompressionValue = {
    response: undefined,
    request: undefined,
    gatewayTarget: ctx.targetKinds.has("Gateway"),
  };
  if (v) {
    unknownKeys(v, ["responseCompression", "requestDecompression"], "compression", errors);
    if (v.responseCompression === undefined && v.requestDecompression === undefined)
      errors.at("compression", "set at least one of responseCompression and requestDecompression");
    const path = "compression.responseCompression";
    if (v.responseCompression !== undefined) {
      const r = object(v.responseCompression, path, errors);
      if (r) {
        unknownKeys(r, ["libraries", "minContentLengthBytes", "contentTypes", "disable"], path, errors);
        if (readDisable(r.disable, `${path}.disable`, errors)) {
          if (Object.keys(r).length > 1) errors.at(`${path}.disable`, "cannot be combined with other fields");
          out.response = "disabled";
        } else {
          const minContentLength = readInt(
            r.minContentLengthBytes,
            `${path}.minContentLengthBytes`,
            errors,
            0,
            2 ** 31 - 1,
          );
          const types = readStrings(r.contentTypes, `${path}.contentTypes`, errors, 50);
          types?.forEach((t, i) => {
            if (t.length < 1 || t.length > 256 || /[\s,]/.test(t))
              errors.at(
                `${path}.contentTypes[${i}]`,
                "must be one content type (1 to 256 characters, no spaces or commas)",
              );
          });
          if (types?.length === 0)
            errors.at(`${path}.contentTypes`, "list at least one content type, or leave it out");
          out.response = {
            libraries: libraries(r.libraries, `${path}.libraries`, errors),
            minContentLength,
            contentTypes: types?.length ? [...new Set(types)].sort() : undefined,
          };
        }
      }
    }
    const dpath = "compression.requestDecompression";
    if (v.requestDecompression !== undefined) {
      const d = object(v.requestDecompression, dpath, errors);
      if (d) {
        unknownKeys(d, ["libraries", "disable"], dpath, errors);
        if (readDisable(d.disable, `${dpath}.disable`, errors)) {
          if (Object.keys(d).length > 1)
            errors.at(`${dpath}.disable`, "cannot be combined with other fields");
          out.request = "disabled";
        } else out.request = libraries(d.libraries, `${dpath}.libraries`, errors).sort();
      }
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: out };
}

const enable = filterOn();
const disable = pack("envoy.config.route.v3.FilterConfig", {
  config: {},
  disabled: true,
  isOptional: true,
} satisfies FilterConfigJson);
const off = { defaultValue: false };

function compressorFilter(library: Library, settings: ResponseCompression): PlacedHttpFilter {
  const config: CompressorJson = {
    compressorLibrary: {
      name: `envoy.compression.${CODEC[library]}.compressor`,
      typedConfig: pack(`envoy.extensions.compression.${CODEC[library]}.compressor.v3.${library}`, {}),
    },
    requestDirectionConfig: {
      commonConfig: { enabled: { ...off, runtimeKey: "waymark.compressor.request" } },
    },
  };
  if (settings.minContentLength !== undefined || settings.contentTypes !== undefined) {
    const common: NonNullable<NonNullable<CompressorJson["responseDirectionConfig"]>["commonConfig"]> = {};
    if (settings.minContentLength !== undefined) common.minContentLength = settings.minContentLength;
    if (settings.contentTypes !== undefined) common.contentType = settings.contentTypes;
    config.responseDirectionConfig = { commonConfig: common };
  }
  return {
    slot: "compression",
    filter: {
      name: compressorName(library, settings),
      disabled: true,
      typedConfig: pack("envoy.extensions.filters.http.compressor.v3.Compressor", config),
    },
  };
}

function decompressorFilter(library: Library): PlacedHttpFilter {
  const config: DecompressorJson = {
    decompressorLibrary: {
      name: `envoy.compression.${CODEC[library]}.decompressor`,
      typedConfig: pack(`envoy.extensions.compression.${CODEC[library]}.decompressor.v3.${library}`, {}),
    },
    responseDirectionConfig: {
      commonConfig: { enabled: { ...off, runtimeKey: "waymark.decompressor.response" } },
    },
  };
  return {
    slot: "decompression",
    filter: {
      name: decompressorName(library),
      disabled: true,
      typedConfig: pack("envoy.extensions.filters.http.decompressor.v3.Decompressor", config),
    },
  };
}

function perFilter(v: CompressionValue, withResponse: boolean): PerFilterConfig {
  const out: PerFilterConfig = {};
  const r = withResponse ? v.response : undefined;
  if (r === "disabled") for (const l of LIBRARIES) out[compressorName(l)] = disable;
  else if (r) for (const l of r.libraries) out[compressorName(l, r)] = enable;
  if (v.request === "disabled") for (const l of LIBRARIES) out[decompressorName(l)] = disable;
  // The codecs not listed are switched off, so a route-level list replaces a Gateway-level one.
  else if (v.request)
    for (const l of LIBRARIES) out[decompressorName(l)] = v.request.includes(l) ? enable : disable;
  return out;
}

export const compressionFeature: PolicyFeature<CompressionValue> = {
  field: "compression",
  read: readCompression,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  filtersFor(values) {
    const filters = new Map<string, PlacedHttpFilter>();
    for (const v of values) {
      if (v.response && v.response !== "disabled")
        for (const l of v.response.libraries) {
          const f = compressorFilter(l, v.response);
          if (!filters.has(String(f.filter.name))) filters.set(String(f.filter.name), f);
        }
      if (v.request && v.request !== "disabled")
        for (const l of v.request)
          if (!filters.has(decompressorName(l))) filters.set(decompressorName(l), decompressorFilter(l));
    }
    return [...filters.values()];
  },
  perRoute: (v) => perFilter(v, true),
  perVirtualHost: (v) => perFilter(v, false),
  ignored: (v) => (v.gatewayTarget && v.response !== undefined ? ["compression.responseCompression"] : []),
};
