// Which files of a source directory hold objects, and how the objects of all files combine. Pure.
import { objectKey, refOf } from "@waymark/api";
import type { ParsedObject } from "./parse.ts";

/**
 * True for `*.yaml` / `*.yml` files (relative path, `/`-separated) outside hidden directories and
 * not editor leftovers (`.#x.yaml`, `x.yaml~`, `.x.yaml.swp`, …).
 */
export function isSourceFile(rel: string): boolean {
  const parts = rel.split("/");
  if (parts.some((p) => p.startsWith(".") || p === "")) return false;
  const base = parts[parts.length - 1] ?? "";
  if (base.endsWith("~") || base.startsWith("#") || /\.sw[a-p]$/.test(base)) return false;
  return base.endsWith(".yaml") || base.endsWith(".yml");
}

export interface FileObjects {
  file: string;
  objects: readonly ParsedObject[];
}

export interface Combined {
  objects: Array<{ object: ParsedObject["object"]; origin: string }>;
  /** One message per object defined more than once (the later definition wins). */
  duplicates: string[];
}

export function originOf(file: string, doc: number): string {
  return `file:${file}#${doc}`;
}

/** The objects of all files, files in path order, later definitions replacing earlier ones. */
export function combineFiles(files: readonly FileObjects[]): Combined {
  const byKey = new Map<string, { object: ParsedObject["object"]; origin: string; at: string }>();
  const duplicates: string[] = [];
  const sorted = [...files].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const f of sorted) {
    for (const p of f.objects) {
      const key = objectKey(refOf(p.object));
      const at = `${f.file}:${p.line}`;
      const before = byKey.get(key);
      if (before) {
        const { kind, metadata } = p.object;
        const id = metadata.namespace ? `${metadata.namespace}/${metadata.name}` : metadata.name;
        duplicates.push(`${kind} ${id} is defined at ${before.at} and again at ${at}; the later one wins`);
        byKey.delete(key); // re-insert so the order follows the winning definition
      }
      byKey.set(key, { object: p.object, origin: originOf(f.file, p.doc), at });
    }
  }
  return { objects: [...byKey.values()].map(({ object, origin }) => ({ object, origin })), duplicates };
}
