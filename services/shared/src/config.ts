// Configuration from environment variables only: each setting is declared once with its variable,
// default and parser; `readConfig` validates them all at start and names every bad variable.

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID'
  constructor (readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
  }
}

export interface Setting<T> {
  env: string
  default: T
  doc: string
  parse: (raw: string) => T
}

type Spec = Record<string, Setting<unknown>>
export type ConfigOf<S extends Spec> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never }

export function readConfig<S extends Spec> (spec: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {}
  const problems: string[] = []
  for (const [key, setting] of Object.entries(spec)) {
    const raw = env[setting.env]
    if (raw === undefined || raw === '') {
      out[key] = setting.default
      continue
    }
    try {
      out[key] = setting.parse(raw)
    } catch (err) {
      problems.push(`${setting.env}=${JSON.stringify(raw)}: ${(err as Error).message}`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return out as ConfigOf<S>
}

export function str (env: string, def: string, doc: string, pattern?: RegExp): Setting<string> {
  return {
    env,
    default: def,
    doc,
    parse: raw => {
      if (pattern && !pattern.test(raw)) throw new Error(`must match ${pattern}`)
      return raw
    }
  }
}

export function int (env: string, def: number, doc: string, min = 0, max = Number.MAX_SAFE_INTEGER): Setting<number> {
  return {
    env,
    default: def,
    doc,
    parse: raw => {
      if (!/^-?\d+$/.test(raw.trim())) throw new Error('must be an integer')
      const n = Number(raw)
      if (n < min || n > max) throw new Error(`must be between ${min} and ${max}`)
      return n
    }
  }
}

export function bool (env: string, def: boolean, doc: string): Setting<boolean> {
  return {
    env,
    default: def,
    doc,
    parse: raw => {
      const v = raw.trim().toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(v)) return true
      if (['0', 'false', 'no', 'off'].includes(v)) return false
      throw new Error('must be true or false')
    }
  }
}

export function list (env: string, def: string[], doc: string): Setting<string[]> {
  return {
    env,
    default: def,
    doc,
    parse: raw => {
      const items = raw.split(',').map(s => s.trim()).filter(Boolean)
      if (items.length === 0) throw new Error('must be a comma-separated list')
      return items
    }
  }
}

export function oneOf<T extends string> (env: string, def: T, doc: string, values: readonly T[]): Setting<T> {
  return {
    env,
    default: def,
    doc,
    parse: raw => {
      if (!values.includes(raw as T)) throw new Error(`must be one of ${values.join(', ')}`)
      return raw as T
    }
  }
}

/** Markdown rows (variable, default, meaning) for docs/configuration.md. */
export function describeSpec (spec: Spec): string[] {
  return Object.values(spec).map(s => {
    const def = Array.isArray(s.default) ? s.default.join(',') : String(s.default)
    return `| \`${s.env}\` | \`${def === '' ? '(empty)' : def}\` | ${s.doc} |`
  })
}
