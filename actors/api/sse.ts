// Server-Sent Events on a Node HTTP response: `data: {json}` events, then `data: [DONE]`.
import type { ServerResponse } from 'node:http';

export class SseWriter {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    // headers out now: the client sees the stream begin before the first token
    res.flushHeaders();
  }

  send(event: unknown): void {
    if (!this.res.writableEnded) this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  /** Ends the stream as OpenAI's do: always with `data: [DONE]`. */
  done(): void {
    if (this.res.writableEnded) return;
    this.res.write('data: [DONE]\n\n');
    this.res.end();
  }
}
