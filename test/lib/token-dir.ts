// A projected-token directory laid out as the kubelet lays it out: `..<timestamp>/token`, a `..data`
// link to it and `token` → `..data/token`. A rotation writes a new timestamped directory and swaps
// `..data` to it atomically (rename of a new link over the old), which is what makes Envoy's
// watched_directory read the token again.
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Creates the directory holding `first`; the returned function rotates it to another token. */
export function kubeletTokenDir(dir: string, first: string): (next: string) => void {
  let n = 0;
  const writeVersion = (value: string) => {
    const version = `..2026_11_26_${String(n++).padStart(2, "0")}`;
    mkdirSync(join(dir, version));
    writeFileSync(join(dir, version, "token"), value);
    return version;
  };
  mkdirSync(dir, { recursive: true });
  symlinkSync(writeVersion(first), join(dir, "..data"));
  symlinkSync("..data/token", join(dir, "token"));
  return (next: string) => {
    const version = writeVersion(next);
    symlinkSync(version, join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data")); // the atomic swap
  };
}
