// Pure parsing of one source file: multi-document YAML → the supported objects it defines, and the
// problems found (with file, line and column). No I/O.
import type { KubeObject } from "@waymark/api";
import { LineCounter, parseAllDocuments } from "yaml";
import { lookupKind } from "./kinds.ts";
import {
  DEFAULT_ISTIO_NAMESPACE,
  isMeshConfigMap,
  MESH_CONFIGMAP_NAME,
  meshConfigMapForm,
} from "./mesh-config.ts";

export type ProblemReason = "InvalidYAML" | "UnsupportedKind" | "InvalidObject";

export interface Problem {
  reason: ProblemReason;
  file: string;
  line: number;
  column: number;
  /** What is wrong, without the position. */
  detail: string;
}

/** `<file>:<line>:<col>: <detail>`, the form used in logs and status messages. */
export function problemText(p: Problem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.detail}`;
}

export interface ParsedObject {
  object: KubeObject;
  /** Index of the YAML document in the file (0-based), and the line where it starts. */
  doc: number;
  line: number;
}

export type ParseResult =
  | { ok: true; objects: ParsedObject[]; problems: Problem[] }
  /** The file is not valid YAML: nothing in it can be trusted. */
  | { ok: false; error: Problem };

// RFC 1123 subdomain (object names) and label (namespace names), as the Kubernetes API validates them.
const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses the text of `file` (a path relative to the source directory, used in messages). */
export function parseSourceFile(
  file: string,
  text: string,
  istioNamespace = DEFAULT_ISTIO_NAMESPACE,
): ParseResult {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => lines.linePos(offset);
  for (const d of docs) {
    const err = d.errors[0];
    if (err) {
      const { line, col } = pos(err.pos[0]);
      return { ok: false, error: { reason: "InvalidYAML", file, line, column: col, detail: err.message } };
    }
  }
  const objects: ParsedObject[] = [];
  const problems: Problem[] = [];
  docs.forEach((d, index) => {
    const start = d.contents?.range[0] ?? d.range[0];
    const { line, col } = pos(start);
    const at = (reason: ProblemReason, detail: string): Problem => ({
      reason,
      file,
      line,
      column: col,
      detail,
    });
    let value: unknown;
    try {
      value = d.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      problems.push(at("InvalidYAML", `document ${index + 1}: ${message}`));
      return;
    }
    if (value === null || value === undefined) return; // empty document (comments only, trailing ---)
    const items =
      isRecord(value) && value["kind"] === "List" && Array.isArray(value["items"]) ? value["items"] : [value];
    for (const item of items) {
      const r = checkObject(item, index, istioNamespace, (reason, detail) =>
        problems.push(at(reason, detail)),
      );
      if (r) objects.push({ object: r, doc: index, line });
    }
  });
  return { ok: true, objects, problems };
}

function checkObject(
  v: unknown,
  doc: number,
  istioNamespace: string,
  report: (reason: ProblemReason, detail: string) => void,
): KubeObject | undefined {
  const where = `document ${doc + 1}`;
  if (!isRecord(v)) {
    report("InvalidObject", `${where} is not a mapping`);
    return undefined;
  }
  const { apiVersion, kind, metadata } = v;
  if (typeof apiVersion !== "string" || apiVersion === "") {
    report("InvalidObject", `${where} has no apiVersion`);
    return undefined;
  }
  if (typeof kind !== "string" || kind === "") {
    report("InvalidObject", `${where} has no kind`);
    return undefined;
  }
  if (!isRecord(metadata) || typeof metadata["name"] !== "string" || metadata["name"] === "") {
    report("InvalidObject", `${where} (${kind}) has no metadata.name`);
    return undefined;
  }
  const name = metadata["name"];
  const info = lookupKind(apiVersion, kind);
  if (!info) {
    report("UnsupportedKind", `${where}: kind ${kind} of apiVersion ${apiVersion} is not supported; skipped`);
    return undefined;
  }
  if (name.length > 253 || !NAME_RE.test(name)) {
    report("InvalidObject", `${where}: ${kind} name "${name}" is not a valid Kubernetes name`);
    return undefined;
  }
  const ns = metadata["namespace"];
  if (ns !== undefined && ns !== null && typeof ns !== "string") {
    report("InvalidObject", `${where}: ${kind} ${name} has a metadata.namespace that is not a string`);
    return undefined;
  }
  const meta: Record<string, unknown> = { ...metadata };
  if (info.namespaced) {
    const namespace = typeof ns === "string" && ns !== "" ? ns : "default";
    if (namespace.length > 63 || !NAMESPACE_RE.test(namespace)) {
      report("InvalidObject", `${where}: ${kind} ${name} has an invalid namespace "${namespace}"`);
      return undefined;
    }
    meta["namespace"] = namespace;
    // The one ConfigMap read is Istio's mesh config, and only its mesh key (mesh-config.ts).
    if (info.group === "" && kind === "ConfigMap") {
      if (!isMeshConfigMap(namespace, name, istioNamespace)) {
        report(
          "UnsupportedKind",
          `${where}: ConfigMap ${namespace}/${name} is not read (only ${istioNamespace}/${MESH_CONFIGMAP_NAME}, Istio's mesh config); skipped`,
        );
        return undefined;
      }
      return meshConfigMapForm({ ...v, metadata: meta } as unknown as KubeObject);
    }
  } else {
    delete meta["namespace"]; // cluster-scoped: the API server ignores it too
  }
  return { ...v, apiVersion, kind, metadata: meta as unknown as KubeObject["metadata"] };
}
