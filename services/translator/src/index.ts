// @waymark/translator: the service (config, starter) and the pure translation it runs.
export { loadConfig, type TranslatorConfig } from "./config.ts";
export {
  type BuildReport,
  startTranslator,
  type TranslateFn,
  type Translator,
  type TranslatorBuckets,
  type TranslatorOptions,
} from "./service/translator.ts";
export * from "./translate/index.ts";
