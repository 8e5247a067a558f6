// The directory source against a real directory, with a sink that records what it is told.
import assert from "node:assert/strict";
import { mkdirSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger, type KubeObject } from "@waymark/api";
import { tempDir, waitFor } from "@waymark/testing";
import { DirectorySource } from "./directory-source.ts";
import type { SourceSink } from "./source.ts";

const namespace = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;

test("rescans that find nothing new hand the sink nothing; a change is one new listing", async () => {
  const dir = tempDir("dir-source");
  writeFileSync(join(dir, "a.yaml"), namespace("a"));
  const listings: string[][] = [];
  const sink: SourceSink = {
    replaceAll: (objects) => listings.push(objects.map((o) => (o.object as KubeObject).metadata.name)),
    upsert: () => assert.fail("a directory is always listed whole"),
    remove: () => assert.fail("a directory is always listed whole"),
    reportSourceProblem: () => {},
    clearSourceProblem: () => {},
  };
  const source = new DirectorySource({ dir, log: createLogger("test", {}, () => {}), rescanMs: 60 });
  await source.start(sink);
  try {
    assert.deepEqual(listings, [["a"]]);
    // Rescans, and a touch that changes the stamp but not the text: nothing new to list.
    utimesSync(join(dir, "a.yaml"), new Date(), new Date(Date.now() + 5000));
    await sleep(400);
    assert.deepEqual(listings, [["a"]]);
    writeFileSync(join(dir, "b.yaml"), namespace("b"));
    await waitFor("the new file listed", async () => listings.length === 2, 2000, 10);
    assert.deepEqual(listings[1]?.sort(), ["a", "b"]);
  } finally {
    await source.stop();
  }
});

test("a file replaced by rename, again and again, at the top and in a subdirectory, is read each time", async () => {
  // How editors, `mv` and atomic writers save. The rescan is an hour away: only events can tell.
  const dir = tempDir("dir-source-rename");
  const staging = tempDir("dir-source-staging");
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "a.yaml"), namespace("a0"));
  writeFileSync(join(dir, "sub", "b.yaml"), namespace("b0"));
  let names: string[] = [];
  const sink: SourceSink = {
    replaceAll: (objects) => {
      names = objects.map((o) => (o.object as KubeObject).metadata.name).sort();
    },
    upsert: () => assert.fail("a directory is always listed whole"),
    remove: () => assert.fail("a directory is always listed whole"),
    reportSourceProblem: () => {},
    clearSourceProblem: () => {},
  };
  const source = new DirectorySource({ dir, log: createLogger("test", {}, () => {}), rescanMs: 3_600_000 });
  await source.start(sink);
  try {
    assert.deepEqual(names, ["a0", "b0"]);
    for (let i = 1; i <= 4; i++) {
      writeFileSync(join(staging, "a.yaml"), namespace(`a${i}`));
      renameSync(join(staging, "a.yaml"), join(dir, "a.yaml"));
      writeFileSync(join(staging, "b.yaml"), namespace(`b${i}`));
      renameSync(join(staging, "b.yaml"), join(dir, "sub", "b.yaml"));
      await waitFor(`replacement ${i} read`, async () => names.join() === `a${i},b${i}`, 5000, 10);
    }
  } finally {
    await source.stop();
  }
});
