// Leveled, timestamped log lines on stderr: `2026-12-02T20:37:03.123Z INFO  message key=value ...`, or one JSON
// object a line for collectors. Nothing here writes to stdout, which scripts parse.

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];
type Level = 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** A text value is quoted when it holds a space, a quote or an equals sign, so a line splits back into its fields. */
const textValue = (v: string | number | boolean) => (typeof v === 'string' && /[\s"=]/.test(v) ? JSON.stringify(v) : String(v));

export function createLogger(format: LogFormat = 'text', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const line = (level: Level, msg: string, fields: LogFields = {}) => {
    const time = new Date().toISOString();
    const present = Object.entries(fields).filter((e): e is [string, string | number | boolean] => e[1] !== undefined);
    if (format === 'json') write(`${JSON.stringify({ time, level, msg, ...Object.fromEntries(present) })}\n`);
    else write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${present.map(([k, v]) => ` ${k}=${textValue(v)}`).join('')}\n`);
  };
  return { info: (m, f) => line('info', m, f), warn: (m, f) => line('warn', m, f), error: (m, f) => line('error', m, f) };
}
