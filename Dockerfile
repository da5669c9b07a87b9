# syntax=docker/dockerfile:1
# Personal Information Encryption API: build with dev dependencies, run with production ones only.
# test/deployment/runtime-image.e2e-spec.ts replays the runtime stage without a container engine;
# keep the two in step.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/tmp/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Owned by root and not writable by the service user: the code cannot be changed at run time.
COPY --from=build /app/dist ./dist
# The official image's "node" user, by number so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 3000
# Equivalent of `npm run start:prod`, without npm in between so SIGTERM reaches the service.
CMD ["node", "dist/main"]
