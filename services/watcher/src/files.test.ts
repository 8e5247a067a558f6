import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { combineFiles, isSourceFile } from "./files.ts";

test("only visible YAML files count", () => {
  for (const f of ["a.yaml", "b.yml", "sub/dir/c.yaml"]) assert.equal(isSourceFile(f), true, f);
  for (const f of [
    ".hidden.yaml",
    ".git/x.yaml",
    "..data/x.yaml",
    ".#a.yaml",
    "a.yaml~",
    "a.yaml.swp",
    "a.json",
    "#a.yaml#",
  ]) {
    assert.equal(isSourceFile(f), false, f);
  }
});

const ns = (name: string, label: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels: { v: label } },
});

test("the later definition of the same object wins, in path order, with a duplicate message", () => {
  const r = combineFiles([
    { file: "b.yaml", objects: [{ object: ns("x", "from-b"), doc: 0, line: 1 }] },
    {
      file: "a.yaml",
      objects: [
        { object: ns("x", "from-a"), doc: 0, line: 1 },
        { object: ns("y", "a"), doc: 1, line: 5 },
      ],
    },
  ]);
  assert.deepEqual(
    r.objects.map((o) => [o.object.metadata.name, o.object.metadata.labels?.["v"], o.origin]),
    [
      ["y", "a", "file:a.yaml#1"],
      ["x", "from-b", "file:b.yaml#0"],
    ],
  );
  assert.deepEqual(r.duplicates, [
    "Namespace x is defined at a.yaml:1 and again at b.yaml:1; the later one wins",
  ]);
});
