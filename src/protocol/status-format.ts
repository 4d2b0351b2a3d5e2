import type { LoadCounts, StatusReport } from './status.ts';

/** Renders a status report as the readable tables `exai status` prints. */
export function formatStatus(report: StatusReport): string {
  const lines = [
    `exai ${report.version}  pid ${report.pid}  up ${formatAge(report.uptimeMs)}` +
      (report.isDraining ? '  (draining)' : ''),
    `global: ${formatLoad(report.global)}`,
    '',
    'providers',
    ...table(
      ['NAME', 'RUNNING', 'QUEUED', 'LIMIT'],
      Object.entries(report.providers).map(([name, l]) => [name, l.running, l.waiting, l.limit]),
    ),
    '',
    `sessions (${report.sessions.length})`,
    ...table(
      ['NAME', 'CONNECTED', 'RUNNING', 'QUEUED'],
      report.sessions.map((s) => [s.name, formatAge(s.ageMs), s.running, s.queued]),
    ),
    '',
    `calls (${report.calls.length})`,
    ...table(
      ['ID', 'SESSION', 'TOOL', 'STATE', 'PROVIDER', 'AGE'],
      report.calls.map((c) => [c.id, c.session, c.tool, c.state, c.provider ?? '-', formatAge(c.ageMs)]),
    ),
  ];
  return lines.join('\n');
}

/** "2 running, 1 queued of 10". */
export function formatLoad(load: LoadCounts): string {
  return `${load.running} running, ${load.waiting} queued of ${load.limit}`;
}

/** A short human age: 850ms, 12s, 3m05s, 2h14m. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function table(header: string[], rows: (string | number)[][]): string[] {
  if (rows.length === 0) return ['  (none)'];
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}
