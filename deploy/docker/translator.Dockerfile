# syntax=docker/dockerfile:1
# The Waymark translator image. Build from the repository root:
#   docker build -f deploy/docker/translator.Dockerfile -t <registry>/translator:<tag> .
# It holds only the translator service, the workspace packages it depends on (api, bus, envoy-proto, telemetry, inja, waypoint) and their
# production dependencies. Node 24 runs the TypeScript sources directly (type stripping): no build step.
ARG NODE_IMAGE=node:24.21.0-slim

FROM ${NODE_IMAGE} AS pnpm
# Behind a TLS-intercepting proxy, pass its CA for the installs (a file the build can read, e.g.
# mounted; scripts/build-images.sh does so): --build-arg NODE_EXTRA_CA_CERTS=<file>. Only the install
# stages declare it: the final image keeps neither the variable nor the file.
ARG NODE_EXTRA_CA_CERTS
ENV CI=true
RUN npm install --global --no-audit --no-fund pnpm@12.4.2
WORKDIR /src
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/api/package.json packages/api/
COPY packages/bus/package.json packages/bus/
COPY packages/envoy-proto/package.json packages/envoy-proto/
COPY packages/telemetry/package.json packages/telemetry/
COPY packages/waypoint/package.json packages/waypoint/
COPY packages/inja/package.json packages/inja/
COPY services/translator/package.json services/translator/

# The Envoy protobuf code is generated, not committed: generate it with envoy-proto's dev tools (buf).
FROM pnpm AS proto
ARG NODE_EXTRA_CA_CERTS
RUN pnpm install --frozen-lockfile --filter @waymark/envoy-proto
COPY packages/envoy-proto/scripts packages/envoy-proto/scripts
COPY packages/envoy-proto/proto-extra packages/envoy-proto/proto-extra
COPY packages/envoy-proto/src packages/envoy-proto/src
RUN pnpm --filter @waymark/envoy-proto generate

# Production dependencies of the service and its workspace packages only.
FROM pnpm AS deps
ARG NODE_EXTRA_CA_CERTS
RUN pnpm install --frozen-lockfile --prod --filter "@waymark/translator..."
COPY packages/api/src packages/api/src
COPY packages/bus/src packages/bus/src
COPY packages/telemetry/src packages/telemetry/src
COPY packages/waypoint/src packages/waypoint/src
COPY packages/inja/src packages/inja/src
COPY --from=proto /src/packages/envoy-proto/src packages/envoy-proto/src
COPY services/translator/src services/translator/src
RUN find packages services -name '*.test.ts' -exec rm -f {} +

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /src /app
# Node's compile cache, filled here once (the service loads every module it runs, then exits; see
# main.ts): at run time the modules come from it with their types stripped, so Node never loads its
# TypeScript stripper (17 MiB of RSS). Node keeps one cache per uid, so uid 1000 fills it; then root
# owns it again. Read-only at run time: a miss only means stripping that file again.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN mkdir /app/.node-compile-cache && chown 1000:1000 /app/.node-compile-cache
USER 1000:1000
RUN WAYMARK_WARM_COMPILE_CACHE=1 node --disable-warning=ExperimentalWarning services/translator/src/main.ts
USER 0:0
RUN chown -R root:root /app/.node-compile-cache
# The node user (uid 1000) owns nothing it runs: the root filesystem can be read-only.
USER 1000:1000
EXPOSE 9090
ENTRYPOINT ["node", "--disable-warning=ExperimentalWarning", "services/translator/src/main.ts"]
