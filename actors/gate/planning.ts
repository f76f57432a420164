// Dispatch planning, pure: which replica takes which rows, and how rows are packed into messages.

/** Rows [from, from + rows) of batch `batch` (one expert's rows of a layer step). */
export interface Piece {
  batch: number;
  from: number;
  rows: number;
}

/** What planning needs to know of a replica. */
export interface Candidate {
  instance: string;
  /** Rows sent to it and not yet answered. */
  inflightRows: number;
}

/**
 * The replica expected to answer first: (rows in flight + rows already planned + 1) × its recent latency
 * (`latency` undefined: not measured lately, counted as the fastest known so it gets measured again).
 * Ties go to the first candidate at or after `rotation` (mod the count), so equal replicas take turns.
 */
export function chooseReplica<C extends Candidate>(candidates: C[], planned: ReadonlyMap<string, number>, latency: (instance: string) => number | undefined, rotation: number): C {
  const known = candidates.map((c) => latency(c.instance)).filter((v): v is number => v !== undefined);
  const fallback = known.length > 0 ? Math.min(...known) : 1;
  const score = (c: C) => (c.inflightRows + (planned.get(c.instance) ?? 0) + 1) * (latency(c.instance) ?? fallback);
  const start = rotation % candidates.length;
  let best = candidates[start];
  for (let i = 1; i < candidates.length; i++) {
    const c = candidates[(start + i) % candidates.length];
    if (score(c) < score(best)) best = c;
  }
  return best;
}

/** Packs pieces into messages of at most maxRows rows, splitting a piece when it alone is larger. */
export function splitRows(pieces: Piece[], maxRows: number): Piece[][] {
  const messages: Piece[][] = [];
  let current: Piece[] = [];
  let room = maxRows;
  for (const p of pieces) {
    let from = p.from;
    let left = p.rows;
    while (left > 0) {
      const take = Math.min(left, room);
      current.push({ batch: p.batch, from, rows: take });
      from += take;
      left -= take;
      room -= take;
      if (room === 0) {
        messages.push(current);
        current = [];
        room = maxRows;
      }
    }
  }
  if (current.length > 0) messages.push(current);
  return messages;
}

/** Rows of one message that fit `maxPayload` bytes with `headroom` kept for the envelope. */
export const rowsPerMessage = (maxPayload: number, headroom: number, hidden: number, bytesPerValue: number) =>
  Math.max(1, Math.floor((maxPayload - headroom) / (hidden * bytesPerValue)));

/**
 * Assigns every piece a replica and packs each replica's pieces into messages under maxRows.
 * `candidatesOf(piece)` lists the replicas that may take it (never empty).
 */
export function planMessages<C extends Candidate>(
  pieces: Piece[],
  candidatesOf: (p: Piece) => C[],
  latency: (instance: string) => number | undefined,
  maxRows: number,
  rotation: () => number,
): { instance: string; pieces: Piece[] }[] {
  const planned = new Map<string, number>();
  const byInstance = new Map<string, Piece[]>();
  for (const piece of pieces) {
    const chosen = chooseReplica(candidatesOf(piece), planned, latency, rotation());
    planned.set(chosen.instance, (planned.get(chosen.instance) ?? 0) + piece.rows);
    const list = byInstance.get(chosen.instance) ?? [];
    list.push(piece);
    byInstance.set(chosen.instance, list);
  }
  return [...byInstance].flatMap(([instance, group]) => splitRows(group, maxRows).map((p) => ({ instance, pieces: p })));
}

/**
 * A hedge of one message: every piece to some replica other than `primary` that hosts its expert,
 * grouped per replica; undefined when some piece has no such replica.
 */
export function planHedge<C extends Candidate>(
  pieces: Piece[],
  primary: string,
  candidatesOf: (p: Piece) => C[],
  latency: (instance: string) => number | undefined,
  rotation = 0,
): { instance: string; pieces: Piece[] }[] | undefined {
  const planned = new Map<string, number>();
  const byInstance = new Map<string, Piece[]>();
  for (const piece of pieces) {
    const peers = candidatesOf(piece).filter((c) => c.instance !== primary);
    if (peers.length === 0) return undefined;
    const chosen = chooseReplica(peers, planned, latency, rotation);
    planned.set(chosen.instance, (planned.get(chosen.instance) ?? 0) + piece.rows);
    byInstance.set(chosen.instance, [...(byInstance.get(chosen.instance) ?? []), piece]);
  }
  return [...byInstance].map(([instance, p]) => ({ instance, pieces: p }));
}
