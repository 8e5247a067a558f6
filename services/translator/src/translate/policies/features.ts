// Every policy feature, in the order their filters are emitted within one slot and their per-filter
// config is merged. Adding a feature: a folder beside transformation/ and one entry here.
import { bufferFeature } from "./buffer/index.ts";
import { compressionFeature } from "./compression/index.ts";
import { corsFeature } from "./cors/index.ts";
import { csrfFeature } from "./csrf/index.ts";
import { faultInjectionFeature } from "./fault-injection/index.ts";
import type { PolicyFeature } from "./feature.ts";
import { headerModifiersFeature } from "./header-modifiers/index.ts";
import { transformationFeature } from "./transformation/index.ts";

// In the order of the filter slots (ir/filter-order.ts).
// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous registry; each feature reads its own value
export const FEATURES: ReadonlyArray<PolicyFeature<any>> = [
  corsFeature,
  csrfFeature,
  faultInjectionFeature,
  compressionFeature,
  bufferFeature,
  headerModifiersFeature,
  transformationFeature,
];
