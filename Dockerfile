# The kube-workflows worker image. Not built by CI (no Docker engine on the CI machines).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Memory of the worker process (src/worker/process-env.ts explains and measures them; a unit test keeps them equal).
ENV MALLOC_ARENA_MAX=2
ENV NODE_OPTIONS=--max-semi-space-size=2
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The image's `node` user, by number so Kubernetes can check runAsNonRoot (deploy/kubernetes/deployment.yaml).
USER 1000:1000
ENTRYPOINT ["node", "bin/kube-workflows.js"]
CMD ["worker"]
