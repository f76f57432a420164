// The log flags of the commands that serve: the format of stderr's log lines, and a line per finished request.
import { createLogger, LOG_FORMATS, type LogFormat, type Logger } from '../../observability/log.js';
import { stringFlag, type FlagTable } from './flags.js';
import { UsageError } from './usage.js';

export const LOG_FLAGS = {
  'log-format': { type: 'string', arg: 'text|json', help: 'log lines on stderr as text or one JSON object a line (for collectors)', default: 'text' },
  'log-requests': { type: 'boolean', help: 'one info line per finished HTTP request: method, path, model, status, tokens in and out, TTFT, total time' },
} as const satisfies FlagTable;

export function loggerFromFlags(values: Record<string, unknown>): { logger: Logger; logRequests: boolean } {
  const format = stringFlag(values as Record<string, string | boolean | undefined>, 'log-format') ?? 'text';
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--log-format must be ${LOG_FORMATS.join(' or ')}, got "${format}"`);
  return { logger: createLogger(format as LogFormat), logRequests: values['log-requests'] === true };
}
