# The worker, trigger API and CLI image. The worker runs as one JavaScript file built by esbuild
# (dist/worker.js: no loader thread, no transpiling at start); the API and CLI run their
# TypeScript through tsx, a production dependency.
# Node 24, the Active LTS line (Node 20 reached end of life in April 2026; 22 is in maintenance).
FROM node:24-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
# npm ci runs the package's postinstall, which skips the local Temporal CLI install when dev
# dependencies are omitted (production talks to a real Temporal server) but must exist to say so.
COPY local-stack/install-pip-tool.ts local-stack/install-temporal-cli.ts local-stack/install-moto.ts ./local-stack/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY common ./common
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY client ./client
COPY api ./api
COPY consent ./consent
COPY analytics ./analytics
COPY db ./db
COPY metrics ./metrics
COPY tracing ./tracing
# The one local-stack helper the worker uses: a free loopback port for the Temporal SDK's metrics exporter.
COPY local-stack/ports.ts ./local-stack/ports.ts
COPY bin ./bin
COPY scripts/bundle-workflows.ts scripts/build-worker.ts ./scripts/

# Workflows are bundled once here, so workers start fast and skip webpack's memory peak.
RUN node --import tsx scripts/bundle-workflows.ts /app/dist/workflow-bundle.js && node --import tsx scripts/build-worker.ts
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
# Two malloc arenas instead of one per thread (the Temporal core runs a dozen): ~25 MB less RSS.
ENV MALLOC_ARENA_MAX=2

# Sources stay root-owned and read-only to the process; tsx caches under /tmp.
USER node

# Exec form: node is PID 1 and gets SIGTERM itself, which starts the graceful shutdown.
# Same flags as `npm run worker`: the worker's live data is a few batches, and an
# uncapped heap balloons under load (see README, benchmark).
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=4", "dist/worker.js"]
