// The controller lease: one active controller per model. The holder rewrites the lease key every renewal; a
// standby that sees the key's revision stand still for a whole lease takes it with a compare-and-set, so two
// standbys cannot both win and no clock is compared across machines.
import type { PlacementStore } from '../protocol/placement-store.js';

/** A lease not renewed for this long is taken over. Env: EAAS_LEASE_MS. */
export const DEFAULT_LEASE_MS = 3_000;

export class Lease {
  private held = false;
  private revision = 0;
  private lastRenewed = 0;
  /** One claim at a time: two renewals with the same revision would make the holder lose to itself. */
  private inFlight = false;
  /** The other holder's revision and when this standby first saw it. */
  private seen?: { revision: number; since: number };

  constructor(
    private readonly store: PlacementStore,
    readonly holder: string,
    readonly leaseMs = DEFAULT_LEASE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get leader(): boolean {
    return this.held;
  }

  /** One round: renew when held, else take the lease if it is free or stale. Resolves to whether this holder leads now. */
  async tick(): Promise<boolean> {
    this.stepDownIfStale();
    if (this.inFlight) return this.held;
    this.inFlight = true;
    try {
      if (this.held) this.won(await this.store.claimLease(this.holder, this.revision));
      else await this.tryTake();
    } catch {
      // tried again next tick
    } finally {
      this.inFlight = false;
    }
    this.stepDownIfStale();
    return this.held;
  }

  /** A holder that has not renewed for half a lease (the KV unreachable, or a call that hangs) stops acting before anyone may take over. */
  private stepDownIfStale(): void {
    if (this.held && this.now() - this.lastRenewed >= this.leaseMs / 2) this.held = false;
  }

  private async tryTake(): Promise<void> {
    const current = await this.store.lease();
    if (!current) return this.won(await this.store.claimLease(this.holder, 0));
    // our own name from before a restart: nobody else holds it
    if (current.record.holder === this.holder) return this.won(await this.store.claimLease(this.holder, current.revision));
    const t = this.now();
    if (this.seen?.revision !== current.revision) {
      this.seen = { revision: current.revision, since: t };
      return;
    }
    if (t - this.seen.since >= this.leaseMs) this.won(await this.store.claimLease(this.holder, current.revision));
  }

  private won(revision: number | null): void {
    this.held = revision !== null;
    if (revision === null) return;
    this.revision = revision;
    this.lastRenewed = this.now();
    this.seen = undefined;
  }
}
