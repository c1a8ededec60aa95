# One image for every fleet service; the command picks the service, e.g.
#   node --max-semi-space-size=64 dist/services/broker/src/main.js   (the default; the flag as
#                                             in the Helm chart's broker.nodeFlags)
#   node dist/services/scorer/src/main.js
#   node dist/services/commander/src/main.js
#   node dist/services/api/src/main.js
# Build from the repo root: docker build -t fleet .   (.dockerignore keeps the context small)
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
# The rest of the context (.dockerignore lists it: sources, tsconfig, model/); model/ may not exist yet.
COPY . .
RUN npm run build && mkdir -p model

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/model ./model
USER node
EXPOSE 1883 8083 8080 9101 9102 9103
CMD ["node", "--max-semi-space-size=64", "dist/services/broker/src/main.js"]
