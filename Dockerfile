# syntax=docker/dockerfile:1
# authledger: multi-stage image. The runtime stage has no compilers, no dev dependencies and
# runs as the unprivileged `node` user. It runs the compiled output (`npm run build` → dist/,
# esbuild), so a start does not compile TypeScript on the fly as `npm start` (tsx) does.

ARG NODE_VERSION=20

# ---- deps: production node_modules, with the toolchain native addons may need (bcrypt, uWS) ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# The committed lockfile is complete (every platform's optional packages): reproducible installs.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- check: lint and typecheck with dev dependencies (fails the build on errors) ----
FROM deps AS check
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run lint && npm run typecheck

# ---- build: compile to dist/ (bundles of our code + the migrations and pages they read) ----
FROM check AS build
RUN npm run build

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
COPY --chown=node:node package.json ./
COPY --from=build --chown=node:node /app/dist ./dist
RUN mkdir -p /app/var/outbox && chown -R node:node /app/var
USER node
EXPOSE 8000 8001
# Liveness of the API role; compose overrides it for roles without HTTP (worker).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 here and handles SIGTERM itself (graceful shutdown within 10 s). The CLI is
# `node dist/cli.js <command>` (e.g. `docker compose exec app node dist/cli.js create-admin`).
CMD ["node", "--enable-source-maps", "dist/main.js"]
