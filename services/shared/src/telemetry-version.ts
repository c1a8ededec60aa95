// The telemetry schema's version on the wire, apart from telemetry-schema.ts so that code which
// only builds messages (vehicle-model.ts, bundled for k6 by scripts/k6-car-bundle.ts) needs no npm package.
export const TELEMETRY_SCHEMA_VERSION = 1
