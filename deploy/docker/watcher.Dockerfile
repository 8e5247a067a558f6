# syntax=docker/dockerfile:1
# The Waymark watcher image. Build from the repository root:
#   docker build -f deploy/docker/watcher.Dockerfile -t <registry>/watcher:<tag> .
# It holds only the watcher service, the workspace packages it depends on (api, bus, telemetry) and their
# production dependencies. Node 24 runs the TypeScript sources directly (type stripping): no build step.
ARG NODE_IMAGE=node:24.21.0-slim

FROM ${NODE_IMAGE} AS pnpm
ENV CI=true
RUN npm install --global --no-audit --no-fund pnpm@12.4.2
WORKDIR /src
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/api/package.json packages/api/
COPY packages/bus/package.json packages/bus/
COPY packages/telemetry/package.json packages/telemetry/
COPY services/watcher/package.json services/watcher/

# Production dependencies of the service and its workspace packages only.
FROM pnpm AS deps
RUN pnpm install --frozen-lockfile --prod --filter "@waymark/watcher..."
COPY packages/api/src packages/api/src
COPY packages/bus/src packages/bus/src
COPY packages/telemetry/src packages/telemetry/src
COPY services/watcher/src services/watcher/src
RUN find packages services -name '*.test.ts' -delete

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /src /app
# The node user (uid 1000) owns nothing it runs: the root filesystem can be read-only.
USER 1000:1000
EXPOSE 9090
ENTRYPOINT ["node", "--disable-warning=ExperimentalWarning", "services/watcher/src/main.ts"]
