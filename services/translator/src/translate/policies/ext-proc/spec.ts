// Reading TrafficPolicy extProc (kgateway's model): the processing server and how the filter talks
// to it live in a GatewayExtension of type ExtProc (extension.ts); a policy names one with
// extensionRef, may override the processing mode where it is in force, or turns processing off
// there with disable.
import type { ExternalProcessorJson, ProcessingModeJson } from "@waymark/envoy-proto";
import { nsName } from "../../input/objects.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import { type FeatureContext, type FeatureRead, FieldErrors } from "../feature.ts";
import { object, readDisable, unknownKeys } from "../read.ts";
import { extProcExtension, readProcessingMode } from "./extension.ts";

/** The HCM filter name of one extension's ext_proc filter. */
export function extProcFilterName(extension: string): string {
  return `waymark.ext_proc/${extension}`;
}

export type ExtProc =
  | { kind: "disable" }
  | {
      kind: "process";
      /** `<namespace>/<extension>`. */
      extension: string;
      /** The ext_proc filter in the HCM for that extension. */
      filterName: string;
      filter: ExternalProcessorJson;
      backend: BackendTarget;
      /** The policy's processingMode, overriding the extension's where the policy is in force. */
      processingMode: ProcessingModeJson | undefined;
      /** What the value programs, for equality (an edited extension reads as a change). */
      key: string;
    };

export function readExtProc(value: unknown, ctx: FeatureContext): FeatureRead<ExtProc> {
  const errors = new FieldErrors();
  const o = object(value, "extProc", errors);
  if (!o) return { ok: false, errors: errors.list };
  unknownKeys(o, ["extensionRef", "processingMode", "disable"], "extProc", errors);
  const disable = readDisable(o.disable, "extProc.disable", errors);
  if ((o.extensionRef === undefined) === !disable)
    errors.at("extProc", "set exactly one of extensionRef and disable");
  if (disable && o.processingMode !== undefined)
    errors.at("extProc.processingMode", "has no effect with disable; remove one of them");
  const processingMode =
    o.processingMode === undefined
      ? undefined
      : readProcessingMode(o.processingMode, "extProc.processingMode", errors);
  if (errors.length) return { ok: false, errors: errors.list };
  if (disable) return { ok: true, value: { kind: "disable" } };
  const r = ctx.extension(extProcExtension, o.extensionRef, "extProc.extensionRef");
  if (!r.ok) return r;
  const extension = nsName(ctx.namespace, r.value.name);
  const { filter, backend } = r.value.value;
  return {
    ok: true,
    value: {
      kind: "process",
      extension,
      filterName: extProcFilterName(extension),
      filter,
      backend,
      processingMode,
      key: JSON.stringify([extension, filter, backend, processingMode ?? null]),
    },
  };
}
