// The standalone source: a directory of YAML files, watched for changes. Every change batch re-reads
// the files that changed and hands the sink the complete set of objects (the sink writes only what
// differs). A file that stops parsing keeps its last good objects until it parses again.
import { type Dirent, type FSWatcher, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type { Logger } from "@waymark/api";
import { SourceError } from "./errors.ts";
import { combineFiles, isSourceFile } from "./files.ts";
import { type ParsedObject, type Problem, parseSourceFile, problemText } from "./parse.ts";
import type { Source, SourceSink } from "./source.ts";

export interface DirectorySourceOptions {
  dir: string;
  log: Logger;
  /** Quiet period that ends a burst of file events. */
  debounceMs?: number;
  /** Longest a burst may delay a re-read. */
  maxDelayMs?: number;
  /** Full re-scan even without events (safety net for missed events). */
  rescanMs?: number;
  /** The Istio namespace: its ConfigMap `istio` is the one ConfigMap read (default istio-system). */
  istioNamespace?: string;
}

interface FileState {
  /** Identity of the content last read: a change in any of these means re-read. */
  stamp: string;
  text: string;
  /** Objects of the last successful parse (kept while the file is invalid). */
  objects: readonly ParsedObject[];
  /** Whether the file has parsed at least once since the watcher started. */
  parsedOnce: boolean;
  problems: readonly Problem[];
}

const fileStamp = (s: { mtimeMs: number; size: number; ino: number }) => `${s.ino}:${s.size}:${s.mtimeMs}`;

export class DirectorySource implements Source {
  readonly description: string;
  readonly needsMetadata = true;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #rescanMs: number;
  readonly #istioNamespace: string | undefined;
  readonly #files = new Map<string, FileState>();
  #sink: SourceSink | undefined;
  #watcher: FSWatcher | undefined;
  /** Non-recursive watchers, one per directory (relative path, "" for the root); see #watchDirs. */
  readonly #dirWatchers = new Map<string, FSWatcher>();
  #timer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #burstStart = 0;
  #hinted = new Set<string>();
  #syncing: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #lastDuplicates = new Set<string>();
  /** Whether the sink has had its first full listing. */
  #listed = false;

  constructor(opts: DirectorySourceOptions) {
    this.#dir = opts.dir;
    this.#log = opts.log.child({ source: `dir:${opts.dir}` });
    this.#debounceMs = opts.debounceMs ?? 25;
    this.#maxDelayMs = opts.maxDelayMs ?? 250;
    this.#rescanMs = opts.rescanMs ?? 10_000;
    this.#istioNamespace = opts.istioNamespace;
    this.description = `dir:${opts.dir}`;
  }

  async start(sink: SourceSink): Promise<void> {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(this.#dir);
    } catch (err) {
      throw new SourceError(`source directory ${this.#dir} cannot be read: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (!st.isDirectory()) throw new SourceError(`source ${this.#dir} is not a directory`);
    this.#sink = sink;
    this.#startWatch(); // before the first read, so no change slips between the two
    await this.#sync();
    this.#rescanTimer = setInterval(() => this.#schedule(undefined), this.#rescanMs);
    this.#rescanTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    for (const w of this.#dirWatchers.values()) w.close();
    this.#dirWatchers.clear();
    clearTimeout(this.#timer);
    clearInterval(this.#rescanTimer);
    await this.#syncing;
  }

  #startWatch(): void {
    if (this.#stopped) return;
    try {
      this.#watcher = watch(this.#dir, { recursive: true }, (_event, filename) =>
        this.#schedule(filename ?? undefined),
      );
      this.#watcher.on("error", (err) => this.#rewatch(err));
    } catch (err) {
      this.#rewatch(err);
    }
  }

  /**
   * Node's recursive watch on Linux follows each file by its inode: after a file is replaced by a
   * rename (how editors and `mv` save, and how atomic writers work) it reports the first
   * replacement and none after it (seen on Node 24.21). A plain watch on each directory reports
   * every entry renamed into it, so these watchers catch what the recursive one misses; a change
   * seen by both is one re-read (events are coalesced). Kept in step with the directories of each
   * listing.
   */
  #watchDirs(dirs: ReadonlySet<string>): void {
    if (this.#stopped) return;
    for (const [rel, w] of this.#dirWatchers) {
      if (dirs.has(rel)) continue;
      w.close();
      this.#dirWatchers.delete(rel);
    }
    for (const rel of dirs) {
      if (this.#dirWatchers.has(rel)) continue;
      try {
        const w = watch(join(this.#dir, rel), (_event, filename) =>
          this.#schedule(filename ? (rel ? `${rel}/${filename}` : filename) : undefined),
        );
        // A directory removed meanwhile: the next listing drops its watcher.
        w.on("error", () => {
          w.close();
          if (this.#dirWatchers.get(rel) === w) this.#dirWatchers.delete(rel);
        });
        this.#dirWatchers.set(rel, w);
      } catch {
        // Gone since the listing; the recursive watcher and the rescan still cover it.
      }
    }
  }

  #rewatch(err: unknown): void {
    this.#log.warn("directory watch failed; watching again in 1 s", { err });
    this.#watcher?.close();
    this.#watcher = undefined;
    setTimeout(() => {
      this.#startWatch();
      this.#schedule(undefined);
    }, 1000).unref();
  }

  /** Coalesces events: a sync runs after debounceMs of quiet, or maxDelayMs after the first event. */
  #schedule(filename: string | undefined): void {
    if (this.#stopped) return;
    if (filename) this.#hinted.add(filename.split(sep).join("/"));
    const now = Date.now();
    if (this.#timer === undefined) this.#burstStart = now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#debounceMs, this.#burstStart + this.#maxDelayMs - now));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#sync();
    }, wait);
  }

  /** Runs one sync at a time; a request during a sync runs another right after it. */
  #sync(): Promise<void> {
    if (this.#syncing) {
      this.#again = true;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      do {
        this.#again = false;
        try {
          await this.#syncOnce();
        } catch (err) {
          this.#log.error("reading the source directory failed", { err });
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #syncOnce(): Promise<void> {
    const sink = this.#sink;
    if (!sink || this.#stopped) return;
    const hinted = this.#hinted;
    this.#hinted = new Set();
    const { files: present, dirs } = await this.#listFiles();
    this.#watchDirs(dirs);
    const changed: string[] = [];
    for (const rel of present) {
      const state = this.#files.get(rel);
      let st: Awaited<ReturnType<typeof stat>>;
      try {
        st = await stat(join(this.#dir, rel));
      } catch {
        present.delete(rel); // gone since the listing
        continue;
      }
      if (!st.isFile()) {
        present.delete(rel);
        continue;
      }
      const stampNow = fileStamp(st);
      if (state && state.stamp === stampNow && !hinted.has(rel)) continue;
      let text: string;
      try {
        text = await readFile(join(this.#dir, rel), "utf8");
      } catch (err) {
        this.#log.warn("cannot read file; keeping its objects", { file: rel, err });
        continue;
      }
      if (state && state.text === text) {
        state.stamp = stampNow;
        continue;
      }
      this.#files.set(rel, this.#parse(rel, text, stampNow, state));
      changed.push(rel);
    }
    let removed = 0;
    for (const rel of [...this.#files.keys()]) {
      if (present.has(rel)) continue;
      removed++;
      this.#files.delete(rel);
      sink.clearSourceProblem(rel);
      this.#log.info("file removed", { file: rel });
    }
    // A rescan or event that changed nothing: the sink already holds this listing.
    if (this.#listed && changed.length === 0 && removed === 0) return;
    for (const rel of changed) {
      const problems = this.#files.get(rel)?.problems ?? [];
      if (problems.length > 0) {
        sink.reportSourceProblem(
          rel,
          problems.map((p) => ({ reason: p.reason, message: problemText(p) })),
        );
      } else {
        sink.clearSourceProblem(rel);
      }
    }
    const combined = combineFiles([...this.#files].map(([file, s]) => ({ file, objects: s.objects })));
    const duplicates = new Set(combined.duplicates);
    for (const d of duplicates)
      if (!this.#lastDuplicates.has(d)) this.#log.warn("object defined twice", { detail: d });
    this.#lastDuplicates = duplicates;
    // A file that has not parsed since start: keep what an earlier run published from it.
    const unread = [...this.#files].filter(([, s]) => !s.parsedOnce).map(([file]) => `file:${file}#`);
    sink.replaceAll(combined.objects, {
      keep: (origin) => unread.some((prefix) => origin.startsWith(prefix)),
    });
    this.#listed = true;
    if (changed.length > 0) {
      this.#log.info("source read", {
        changedFiles: changed,
        files: this.#files.size,
        objects: combined.objects.length,
      });
    }
  }

  #parse(rel: string, text: string, stamp: string, before: FileState | undefined): FileState {
    const r = parseSourceFile(rel, text, this.#istioNamespace);
    if (!r.ok) {
      const e = r.error;
      this.#log.error("invalid YAML; keeping the objects last read from this file", {
        file: rel,
        line: e.line,
        column: e.column,
        error: e.detail,
        kept: before?.objects.length ?? 0,
      });
      return {
        stamp,
        text,
        objects: before?.objects ?? [],
        parsedOnce: before?.parsedOnce ?? false,
        problems: [e],
      };
    }
    for (const p of r.problems) {
      this.#log.warn(p.reason === "UnsupportedKind" ? "unsupported kind skipped" : "invalid object skipped", {
        file: rel,
        line: p.line,
        column: p.column,
        reason: p.reason,
        error: p.detail,
      });
    }
    return { stamp, text, objects: r.objects, parsedOnce: true, problems: r.problems };
  }

  /** Relative paths (`/`-separated) of the source files under the directory, and of its directories. */
  async #listFiles(): Promise<{ files: Set<string>; dirs: Set<string> }> {
    const files = new Set<string>();
    const dirs = new Set<string>([""]);
    let entries: Dirent[];
    try {
      entries = await readdir(this.#dir, { recursive: true, withFileTypes: true });
    } catch (err) {
      throw new SourceError(`cannot list ${this.#dir}: ${(err as Error).message}`, { cause: err });
    }
    for (const e of entries) {
      const rel = relative(this.#dir, join(e.parentPath, e.name)).split(sep).join("/");
      if (e.isDirectory()) dirs.add(rel);
      else if (isSourceFile(rel)) files.add(rel);
    }
    return { files, dirs };
  }
}
