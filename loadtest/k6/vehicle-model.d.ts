// Types of the generated vehicle-model.js (a bundle of the shared model, scripts/k6-car-bundle.ts):
// the source's own, so TypeScript checks the k6 car against the model it was bundled from.
export * from '../../services/shared/src/vehicle-model.js'
