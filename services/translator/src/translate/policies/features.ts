// Every policy feature, in the order their filters are emitted within one slot and their per-filter
// config is merged. Adding a feature: a folder beside transformation/ and one entry here.
import type { PolicyFeature } from "./feature.ts";
import { headerModifiersFeature } from "./header-modifiers/index.ts";
import { transformationFeature } from "./transformation/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous registry; each feature reads its own value
export const FEATURES: ReadonlyArray<PolicyFeature<any>> = [headerModifiersFeature, transformationFeature];
