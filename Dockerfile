# syntax=docker/dockerfile:1
# Personal Information Encryption API: build with dev dependencies, run with production ones only.
# test/deployment/runtime-image.e2e-spec.ts replays both stages without a container engine;
# keep the two in step. The Node version is the one in .nvmrc (the test checks it).
# Releases pin the base by digest: --build-arg NODE_IMAGE=node:26.10.0-trixie-slim@sha256:<digest>
# (docs/operations.md 1.2 says how to read it); the default stays a tag that the tests can check.
ARG NODE_IMAGE=node:26.10.0-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# OCI annotations; pass them at build time, e.g.
#   --build-arg SOURCE=<repository URL> --build-arg VERSION="$(npm pkg get version | tr -d '"')" --build-arg REVISION="$(git rev-parse HEAD)"
ARG NODE_IMAGE
ARG SOURCE=unknown
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pii-encryption-api" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/tmp/data
WORKDIR /app
COPY package.json package-lock.json ./
# /app/sbom.cdx.json: CycloneDX SBOM of exactly the installed production tree. devDependencies are
# dropped from package.json first: with them, npm sbom reports the uninstalled dev packages as
# missing (ESBOMPROBLEMS), and --omit dev also drops production packages that a dev package
# shares (npm/cli#7909; here @aws-sdk/client-kms and 150-odd more).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm pkg delete devDependencies \
    && npm sbom --omit dev --sbom-format cyclonedx > sbom.cdx.json \
    && npm cache clean --force
# Owned by root and not writable by the service user: the code cannot be changed at run time.
COPY --from=build /app/dist ./dist
# Last: no package manager and no shell at run time (nothing in the pod runs either: the chart's
# preStop is the kubelet's sleep or the sleep binary). This RUN is the image's own and is not
# replayed by the tests; it must stay the stage's last, since no RUN can follow it.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
    && rm -f /bin/sh /bin/dash /bin/bash /bin/rbash /usr/bin/sh /usr/bin/dash /usr/bin/bash /usr/bin/rbash
# The official image's "node" user, by number so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 3000
# Equivalent of `npm run start:prod`, without npm in between so SIGTERM reaches the service.
CMD ["node", "dist/main"]
