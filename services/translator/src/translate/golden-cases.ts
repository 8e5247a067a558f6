// Test support (not part of the translation): loading the golden cases of services/translator/testdata.
// Each case directory holds input.yaml (multi-document Kubernetes YAML), output.yaml (the expected
// {waypoints, statuses}) and optionally settings.yaml (overrides of the test settings).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { type KubeObject, objectKey, refOf } from "@waymark/api";
import { decodeResource, encodeResource, encodeRouteConfiguration, TypeUrl } from "@waymark/envoy-proto";
import { parse, parseAllDocuments, stringify } from "yaml";
import { isRecord } from "./input/guards.ts";
import type { TranslationInput, TranslationOutput, TranslatorSettings } from "./types.ts";

export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "testdata");

export const GOLDEN_SETTINGS: TranslatorSettings = {
  controllerName: "waymark.dev/waymark",
  waypointClassName: "kgateway-waypoint",
  bindAddress: "127.0.0.1",
};

export interface GoldenCase {
  name: string;
  dir: string;
  input: TranslationInput;
  settings: TranslatorSettings;
}

export function caseNames(): string[] {
  return readdirSync(TESTDATA, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(TESTDATA, d.name, "input.yaml")))
    .map((d) => d.name)
    .sort();
}

/** Objects keyed as the watcher keys them; documents that are not objects get a placeholder key. */
export function objectsFromYaml(text: string): Map<string, KubeObject> {
  const objects = new Map<string, KubeObject>();
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length) throw new Error(`document ${i}: ${doc.errors[0]?.message}`);
    const o: unknown = doc.toJS();
    if (o === null || o === undefined) return;
    const wellFormed =
      isRecord(o) &&
      typeof o.apiVersion === "string" &&
      isRecord(o.metadata) &&
      typeof o.metadata.name === "string";
    objects.set(wellFormed ? objectKey(refOf(o as KubeObject)) : `malformed.${i}`, o as KubeObject);
  });
  return objects;
}

export function loadCase(name: string): GoldenCase {
  const dir = join(TESTDATA, name);
  const settingsFile = join(dir, "settings.yaml");
  const overrides: unknown = existsSync(settingsFile) ? parse(readFileSync(settingsFile, "utf8")) : {};
  return {
    name,
    dir,
    input: { objects: objectsFromYaml(readFileSync(join(dir, "input.yaml"), "utf8")) },
    settings: { ...GOLDEN_SETTINGS, ...(isRecord(overrides) ? overrides : {}) },
  };
}

/** The golden form of an output: plain data, as YAML with sorted keys. */
export function goldenYaml(output: TranslationOutput): string {
  return stringify(JSON.parse(JSON.stringify(output)), {
    sortMapEntries: true,
    aliasDuplicateObjects: false,
    lineWidth: 0,
  });
}

/**
 * What in an output does not encode with the strict proto encoder, and which RouteConfigurations
 * spliced from their routes' bytes (as the translator publishes them) decode differently from a
 * whole encoding.
 */
export function encodingProblems(output: TranslationOutput): string[] {
  const problems: string[] = [];
  for (const w of output.waypoints) {
    for (const [typeUrl, list] of Object.entries(w.resources)) {
      for (const r of list) {
        try {
          const whole = encodeResource(typeUrl, r.name, r.json);
          if (
            typeUrl === TypeUrl.route &&
            !isDeepStrictEqual(
              decodeResource(typeUrl, encodeRouteConfiguration(r.name, r.json, new WeakMap())),
              decodeResource(typeUrl, whole),
            )
          )
            problems.push(`${r.name}: the spliced encoding decodes differently from the whole one`);
        } catch (e) {
          problems.push(`${r.name} does not encode: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
  }
  return problems;
}
