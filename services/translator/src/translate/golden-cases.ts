// Test support (not part of the translation): loading the golden cases of services/translator/testdata.
// Each case directory holds its input: input.yaml (multi-document Kubernetes YAML) and optionally
// settings.yaml (overrides of the test settings). Its expected output is split into one file per part,
// so that a reviewer reads one diff per xDS type (see TYPE_FILES):
//   listeners.yaml, routes.yaml, clusters.yaml, endpoints.yaml — one per xDS type. Each lists every
//     waypoint of the output, in the output's order, as {waypoint, resources}: that waypoint's
//     resources of the type, sorted by name. A waypoint with none has `resources: []` (it still gets an
//     empty set of that type), and a case with no waypoint at all has `[]`: the four files are always
//     there, so a change that adds the first route shows as a diff of routes.yaml, not as a new file.
//   status.yaml — the statuses, as in the output (sorted by object key); `[]` when there are none.
//   infra.yaml — the waypoints' Kubernetes objects; only in a case whose settings.yaml sets `infra`
//     (the output has them only then).
// Together they hold the whole output and nothing else (outputFromGoldenFiles puts it back together).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { type KubeObject, objectKey, refOf } from "@waymark/api";
import {
  decodeResource,
  encodeResource,
  encodeRouteConfiguration,
  SECRET_TYPE_URL,
  TypeUrl,
} from "@waymark/envoy-proto";
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

/** The golden file of each xDS type. */
export const TYPE_FILES = {
  "listeners.yaml": TypeUrl.listener,
  "routes.yaml": TypeUrl.route,
  "clusters.yaml": TypeUrl.cluster,
  "endpoints.yaml": TypeUrl.endpoint,
} as const;
/** SDS secrets: a file only for cases whose output has some (OAuth2); test values, never real ones. */
const SECRETS_FILE = "secrets.yaml";
const STATUS_FILE = "status.yaml";
const INFRA_FILE = "infra.yaml";
/** The YAML files of a case directory that are its input; every other one is a golden file. */
const INPUT_FILES = new Set(["input.yaml", "settings.yaml"]);

type Waypoint = TranslationOutput["waypoints"][number];

/** One entry of a type file: a waypoint and its resources of that type. */
interface TypeFileEntry {
  waypoint: Waypoint["waypoint"];
  resources: Waypoint["resources"][TypeUrl];
}

/** Plain data as golden YAML: sorted keys, no aliases, no folding. */
function goldenYaml(value: unknown): string {
  return stringify(JSON.parse(JSON.stringify(value)), {
    sortMapEntries: true,
    aliasDuplicateObjects: false,
    lineWidth: 0,
  });
}

/** The golden files of an output: file name → YAML text. */
export function goldenFiles(output: TranslationOutput): Map<string, string> {
  const files = new Map<string, string>();
  for (const [file, typeUrl] of Object.entries(TYPE_FILES)) {
    const entries: TypeFileEntry[] = output.waypoints.map((w) => ({
      waypoint: w.waypoint,
      resources: w.resources[typeUrl],
    }));
    files.set(file, goldenYaml(entries));
  }
  if (output.waypoints.some((w) => w.resources[SECRET_TYPE_URL]?.length))
    files.set(
      SECRETS_FILE,
      goldenYaml(
        output.waypoints.map((w) => ({
          waypoint: w.waypoint,
          resources: w.resources[SECRET_TYPE_URL] ?? [],
        })),
      ),
    );
  files.set(STATUS_FILE, goldenYaml(output.statuses));
  if (output.infra !== undefined) files.set(INFRA_FILE, goldenYaml(output.infra));
  return files;
}

/**
 * The output that parsed golden files (file name → parsed YAML) describe: the inverse of goldenFiles,
 * which the golden test uses to check that the files hold the whole output. Throws when the type files
 * do not list the same waypoints.
 */
export function outputFromGoldenFiles(files: ReadonlyMap<string, unknown>): TranslationOutput {
  const perType = Object.entries(TYPE_FILES).map(([file, typeUrl]) => {
    const entries = files.get(file);
    if (!Array.isArray(entries)) throw new Error(`${file} is not a list`);
    return { file, typeUrl, entries: entries as TypeFileEntry[] };
  });
  const first = perType[0];
  if (!first) throw new Error("no type files");
  const waypoints = first.entries.map((e, i): Waypoint => {
    const resources = {} as Waypoint["resources"];
    for (const { file, typeUrl, entries } of perType) {
      const entry = entries[i];
      if (!entry || !isDeepStrictEqual(entry.waypoint, e.waypoint))
        throw new Error(`${file} and ${first.file} do not list the same waypoints`);
      resources[typeUrl] = entry.resources;
    }
    return { resources, waypoint: e.waypoint };
  });
  for (const { file, entries } of perType)
    if (entries.length !== waypoints.length)
      throw new Error(`${file} and ${first.file} do not list the same waypoints`);
  const secrets = files.get(SECRETS_FILE);
  if (secrets !== undefined) {
    if (!Array.isArray(secrets) || secrets.length !== waypoints.length)
      throw new Error(`${SECRETS_FILE} and ${first.file} do not list the same waypoints`);
    (secrets as TypeFileEntry[]).forEach((e, i) => {
      if (e.resources.length) waypoints[i]!.resources[SECRET_TYPE_URL] = e.resources;
    });
  }
  const output: TranslationOutput = {
    statuses: files.get(STATUS_FILE) as TranslationOutput["statuses"],
    waypoints,
  };
  if (files.has(INFRA_FILE)) output.infra = files.get(INFRA_FILE) as TranslationOutput["infra"];
  return output;
}

/** The golden files (by name) a case directory holds now: its YAML files that are not its input. */
export function goldenFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") && !INPUT_FILES.has(f))
    .sort();
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
