// What the dashboard page is sent over its one stream: a whole picture at most once a second, and each cluster
// event as it happens. The page (assets/dashboard.js) reads exactly these shapes.

/** An expert actor's state as the page shows it. */
export type ActorState = 'starting' | 'up' | 'suspected' | 'down' | 'restarting' | 'retiring' | 'failed';

export interface ActorRow {
  instance: string;
  node: string;
  state: ActorState;
  /** `layer:expert` ids it hosts. */
  experts: string[];
  /** Share of the last load window its worker computed (null: no report yet). */
  busy: number | null;
  rowsPerSec: number | null;
  restarts: number;
  /** When its state last changed (ms since the epoch, by this process's clock). */
  since: number;
}

export interface NodeRow {
  name: string;
  roles: ('gate' | 'supervisor')[];
}

/** One point of the traffic charts: a second of the cluster as the gates saw it (null: nothing measured). */
export interface TrafficPoint {
  at: number;
  tokensPerSec: number;
  running: number;
  waiting: number;
  ttftP50: number | null;
  ttftP99: number | null;
  itlP50: number | null;
  itlP99: number | null;
}

export type TimelineKind = 'up' | 'down' | 'restarting' | 'failed' | 'draining' | 'escalated' | 'redirect' | 'hedge' | 'suspected' | 'placement' | 'gate-reconnected';

export interface TimelineEvent {
  at: number;
  kind: TimelineKind;
  /** The instance, node or revision it is about. */
  about: string;
  text: string;
}

export interface Snapshot {
  /**
   * The first picture a page gets is full: the traffic and the timeline of the last minutes. The ones after it
   * carry only the newest traffic point and no events (those came as live events), so each second stays small.
   */
  full: boolean;
  model: string;
  at: number;
  layers: number;
  experts: number;
  /** [layer][expert]: tokens per second routed there over the gates' last load window. */
  heat: number[][];
  /** [layer][expert]: replicas up now. */
  running: number[][];
  /** [layer][expert]: replicas the placement wants (the controller's desired placement, else every replica not retired). */
  desired: number[][];
  nodes: NodeRow[];
  actors: ActorRow[];
  /** Oldest first, one a second, the last TRAFFIC_SECONDS (not full: the newest only). */
  traffic: TrafficPoint[];
  /** Oldest first, the last TIMELINE_LENGTH (not full: none). */
  events: TimelineEvent[];
}

/** The SSE messages: `snapshot` carries a Snapshot, `event` a TimelineEvent with the actor it changed, if any. */
export interface LiveEvent {
  event: TimelineEvent;
  actor?: ActorRow;
}

export const TRAFFIC_SECONDS = 300;
export const TIMELINE_LENGTH = 200;
