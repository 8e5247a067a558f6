// Every policy feature, in the order their filters are emitted within one slot and their per-filter
// config is merged. Adding a feature: a folder beside transformation/ and one entry here.
import { apiKeyAuthFeature } from "./api-key-auth/index.ts";
import { autoHostRewriteFeature } from "./auto-host-rewrite/index.ts";
import type { PolicyFeature } from "./feature.ts";
import { internalRedirectFeature } from "./internal-redirect/index.ts";
import { jwtAuthFeature } from "./jwt-auth/index.ts";
import { retryFeature } from "./retry/index.ts";
import { statPrefixFeature } from "./stat-prefix/index.ts";
import { timeoutsFeature } from "./timeouts/index.ts";
import { transformationFeature } from "./transformation/index.ts";
import { urlRewriteFeature } from "./url-rewrite/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous registry; each feature reads its own value
export const FEATURES: ReadonlyArray<PolicyFeature<any>> = [
  // Authentication (fail closed).
  apiKeyAuthFeature,
  jwtAuthFeature,
  transformationFeature,
  // Route edits (no filter): route action and route entry fields.
  urlRewriteFeature,
  autoHostRewriteFeature,
  timeoutsFeature,
  retryFeature,
  internalRedirectFeature,
  statPrefixFeature,
];
