// @waymark/translator: the service (config, starter) and the pure translation it runs.
export { loadConfig, type TranslatorConfig } from "./config.ts";
// How the service turns a translation into manifests (tests compute the expected manifest with it).
export { buildSnapshots, type WaypointSnapshot } from "./service/build.ts";
export {
  type BuildReport,
  startTranslator,
  type TranslateFn,
  type Translator,
  type TranslatorBuckets,
  type TranslatorOptions,
} from "./service/translator.ts";
export * from "./translate/index.ts";
