# syntax=docker/dockerfile:1
# authledger: multi-stage image. The runtime stage has no compilers, no dev dependencies and
# runs as the unprivileged `node` user. TypeScript runs through tsx (a runtime dependency), so
# there is no separate build output to keep in step with the sources.

ARG NODE_VERSION=20

# ---- deps: production node_modules, with the toolchain native addons may need (bcrypt, uWS) ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: the lockfile may lack other platforms' optional packages.
RUN npm install --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- check: lint and typecheck with dev dependencies (fails the build on errors) ----
FROM deps AS check
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run lint && npm run typecheck

# ---- runtime ----
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    REALTIME_PORT=8001 \
    DATA_DIR=/app/var \
    MAIL_OUTBOX_DIR=/app/var/outbox
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json tsconfig.json ./
COPY --chown=node:node src ./src
COPY --chown=node:node workers ./workers
COPY --chown=node:node migrations ./migrations
RUN mkdir -p /app/var/outbox && chown -R node:node /app/var
USER node
EXPOSE 8000 8001
# Liveness of the API role; compose overrides it for roles without HTTP (worker).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 here and handles SIGTERM itself (graceful shutdown within 10 s).
CMD ["node", "--import", "tsx", "src/main.ts"]
