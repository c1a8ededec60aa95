// neostandard (the shared config of fastify and platformatic: standard style + typescript-eslint)
// with its TypeScript rules; the build output, caches and generated bundles are not linted.
import neostandard from 'neostandard'

export default [
  // esbuild's output (npm run loadtest:k6:car); its source, vehicle-model.ts, is linted.
  { ignores: ['loadtest/k6/vehicle-model.js'] },
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', '.cache/**', '.stack/**', '.stack-test/**', 'results/**'] }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (its errors are handled inside).
      'no-void': ['error', { allowAsStatement: true }],
      // Flags set by other callbacks while a loop awaits (stopped, closed, settled) look unmodified to it.
      'no-unmodified-loop-condition': 'off'
    }
  }
]
