export const DASHBOARD_HTML = '<!doctype html><title>fleet</title>'
export const DASHBOARD_JS = ''
export const DASHBOARD_CSS = ''
