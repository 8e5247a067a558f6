export { loadConfig, type SourceConfig, type WatcherConfig } from "./config.ts";
export { DirectorySource, type DirectorySourceOptions } from "./directory-source.ts";
export { SourceError } from "./errors.ts";
export { ObjectPublisher, type PublisherOptions } from "./publisher.ts";
export type { ReplaceOptions, Source, SourceProblem, SourceSink } from "./source.ts";
export { type RunningWatcher, startWatcher } from "./watcher.ts";
