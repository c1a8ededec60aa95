// String formats TypeBox's compiler checks (it knows none by itself): imported by every schema
// module that uses `format`.
import { FormatRegistry } from '@sinclair/typebox'

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', v => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)))
if (!FormatRegistry.Has('uri')) {
  FormatRegistry.Set('uri', v => {
    try {
      return ['https:', 'http:'].includes(new URL(v).protocol)
    } catch {
      return false
    }
  })
}
