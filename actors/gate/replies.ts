// What a gate's server may have taken with it when it died, set right after the gate reconnects elsewhere.
// Answers: one written in the moments between the server's death and the client library noticing it went into a
// dead socket, and its requester, whose own link is fine, would wait out its whole deadline. Answers are kept a
// short while and sent again after a reconnect; a requester takes the first answer and drops the rest.
// Requests: one on its way to the gate through the dying server never arrives; the gate cannot know it, so it
// publishes a reconnect notice saying how long it was away, and requesters that sent within that time (and the
// window before it) and still wait send their request again (requestGenerate).
import { Events, type MsgHdrs, type NatsConnection } from 'nats';
import { encodeGateReconnected } from '../protocol/messages.js';

/** How long before a disconnect an answer or a request may have been lost (the library notices a dead server within ms). */
export const REPLY_RESEND_WINDOW_MS = 2_000;

interface Sent {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs;
  at: number;
}

export class RecentReplies {
  private readonly sent: Sent[] = [];
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    /** Where the gate's reconnect notice goes (subjects.gateReconnected); none: no notice. */
    private readonly notice?: string,
    private readonly windowMs = REPLY_RESEND_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {
    void this.follow();
  }

  /** Records an answer the gate just sent to `subject` (its requester's inbox). */
  record(subject: string | undefined, data: Uint8Array, headers?: MsgHdrs): void {
    if (!subject) return;
    const now = this.now();
    // oldest first: drop from the front what left the window
    while (this.sent.length > 0 && now - this.sent[0].at > this.windowMs) this.sent.shift();
    this.sent.push({ subject, data, headers, at: now });
  }

  private async follow(): Promise<void> {
    await afterEachReconnect(this.nc, this.now, () => this.stopped, (droppedAt) => {
      const since = droppedAt - this.windowMs;
      for (const r of this.sent) if (r.at >= since && r.at <= droppedAt) this.nc.publish(r.subject, r.data, { headers: r.headers });
      if (this.notice) this.nc.publish(this.notice, encodeGateReconnected({ down_ms: this.now() - droppedAt }));
    });
  }

  stop(): void {
    this.stopped = true;
  }
}

/** Calls `back` with when the link dropped, each time `nc` is back after a disconnect, until `stopped()`. */
export async function afterEachReconnect(nc: NatsConnection, now: () => number, stopped: () => boolean, back: (droppedAt: number) => void): Promise<void> {
  let droppedAt: number | undefined;
  for await (const s of nc.status()) {
    if (stopped()) return;
    if (s.type === Events.Disconnect) droppedAt = now();
    else if (s.type === Events.Reconnect && droppedAt !== undefined) {
      back(droppedAt);
      droppedAt = undefined;
    }
  }
}
