// The streams a gate answers, by request id: every message sent (start, each token with its index, end) is kept
// while the stream runs and a while after, so that a client can take a stream up again on another inbox (resume),
// and the gate sends each one again after its own reconnect. A client drops what it already has by token index.
import type { NatsConnection } from 'nats';
import { afterEachReconnect, REPLY_RESEND_WINDOW_MS } from './replies.js';

/** A finished stream is kept this long for a client that resumes late. */
export const STREAM_KEEP_MS = 60_000;

interface Stream {
  messages: Uint8Array[];
  /** Inboxes the stream goes to: the first requester's, and each one a resume gave. */
  targets: Set<string>;
  abort: AbortController;
  endedAt?: number;
  /** When its last message was sent. */
  lastAt: number;
}

export class StreamBook {
  private readonly streams = new Map<string, Stream>();
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly keepMs = STREAM_KEEP_MS,
    private readonly now: () => number = Date.now,
  ) {
    void this.follow();
  }

  /** Streams in progress (for cancel). */
  running(id: string): AbortController | undefined {
    const s = this.streams.get(id);
    return s && s.endedAt === undefined ? s.abort : undefined;
  }

  /** Starts a stream to `reply` (a known id is `attach`ed instead). */
  open(id: string, reply: string, abort: AbortController): void {
    this.prune();
    this.streams.set(id, { messages: [], targets: new Set([reply]), abort, lastAt: this.now() });
  }

  /** Sends the stream to `reply` too, from its first message; false when the gate does not know it (any more). */
  attach(id: string, reply: string): boolean {
    const s = this.streams.get(id);
    if (!s) return false;
    s.targets.add(reply);
    for (const m of s.messages) this.nc.publish(reply, m);
    return true;
  }

  /** Sends one message of the stream to every inbox it goes to, and keeps it. */
  send(id: string, message: Uint8Array, last = false): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.messages.push(message);
    s.lastAt = this.now();
    if (last) s.endedAt = s.lastAt;
    if (this.nc.isClosed()) return;
    for (const t of s.targets) this.nc.publish(t, message);
  }

  /** A stream that failed or was cancelled: nothing more to resume. */
  drop(id: string): void {
    this.streams.delete(id);
  }

  stop(): void {
    this.stopped = true;
  }

  private prune(): void {
    const t = this.now();
    for (const [id, s] of this.streams) if (s.endedAt !== undefined && t - s.endedAt > this.keepMs) this.streams.delete(id);
  }

  /** After a reconnect: every stream that was running, or sent in the moments before the drop, goes out again. */
  private async follow(): Promise<void> {
    await afterEachReconnect(this.nc, this.now, () => this.stopped, (droppedAt) => {
      const since = droppedAt - REPLY_RESEND_WINDOW_MS;
      for (const s of this.streams.values()) {
        if (s.endedAt !== undefined && s.lastAt < since) continue;
        for (const t of s.targets) for (const m of s.messages) this.nc.publish(t, m);
      }
    });
  }
}
