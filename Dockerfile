# One image for every fleet service; the command picks the service, e.g.
#   node --max-semi-space-size=64 --no-memory-reducer dist/services/broker/src/main.js
#                                             (the default; the flags as in the Helm chart's
#                                             broker.nodeFlags)
#   node dist/services/scorer/src/main.js     (tfjs-node, the backend the scorer figures were
#                                             measured with; wasm if it cannot load)
#   node dist/services/commander/src/main.js
#   node dist/services/api/src/main.js
# Build from the repo root: docker build -t fleet .   (.dockerignore keeps the context small)
# Node 24 LTS (Node 22 is still supported: --build-arg NODE_IMAGE=node:22-bookworm-slim).
ARG NODE_IMAGE=node:24-bookworm-slim
ARG NODE_BUILD_IMAGE=node:24-bookworm

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
# The rest of the context (.dockerignore lists it: sources, tsconfig, model/); model/ may not exist yet.
COPY . .
RUN npm run build && mkdir -p model

# The native TensorFlow backend (tfjs-node 4.22.0 with libtensorflow from PyPI's tensorflow-cpu
# 2.15.1, compiled against this Node's headers): the same build as scripts/build-tfjs-node.sh on a
# developer machine. The full image has the compiler, make and Python; pip and unzip are added.
FROM ${NODE_BUILD_IMAGE} AS tfjs-node
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip unzip >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY scripts/build-tfjs-node.sh scripts/prune-tfjs.sh ./
RUN FLEET_CACHE_DIR=/opt/fleet bash build-tfjs-node.sh \
 && bash prune-tfjs.sh /opt/fleet/tfjs-node-4.22.0/node_modules \
 && cd /opt/fleet/tfjs-node-4.22.0/node_modules/@tensorflow/tfjs-node \
 && rm -rf build deps/include src binding.gyp scripts /opt/fleet/wheels /root/.npm

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json scripts/prune-tfjs.sh ./
# Production dependencies only, TensorFlow.js trimmed to what Node runs (no browser bundles, no WebGL).
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force \
 && bash prune-tfjs.sh node_modules && rm prune-tfjs.sh
COPY --from=tfjs-node /opt/fleet/tfjs-node-4.22.0 /opt/fleet/tfjs-node-4.22.0
ENV FLEET_SCORER_TFJS_NODE_DIR=/opt/fleet/tfjs-node-4.22.0
COPY --from=build /app/dist ./dist
COPY --from=build /app/model ./model
USER node
EXPOSE 1883 8083 8080 9101 9102 9103
CMD ["node", "--max-semi-space-size=64", "--no-memory-reducer", "dist/services/broker/src/main.js"]
