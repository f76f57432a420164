// NATS micro service discovery ($SRV.INFO / $SRV.STATS), collected into arrays.
import { ErrorCode, RequestStrategy, type NatsConnection, type NatsError, type ServiceInfo, type ServiceStats } from 'nats';

/** How long discovery listens for answers. */
export const DISCOVERY_WAIT_MS = 1000;
/** With `quick`, discovery stops once no answer came for this long. */
const DISCOVERY_QUIET_MS = 150;

async function collect<T>(query: () => Promise<AsyncIterable<T>>): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const v of await query()) out.push(v);
  } catch (err) {
    // no service of that name is running: an empty answer, not a failure
    if ((err as NatsError).code !== ErrorCode.NoResponders) throw err;
  }
  return out;
}

function client(nc: NatsConnection, quick: boolean) {
  return nc.services.client(
    quick
      ? { maxWait: DISCOVERY_WAIT_MS, strategy: RequestStrategy.JitterTimer, jitter: DISCOVERY_QUIET_MS }
      : { maxWait: DISCOVERY_WAIT_MS, strategy: RequestStrategy.Timer },
  );
}

/** Every running instance of service `name`; `quick` stops at the first quiet gap instead of waiting the full time. */
export const serviceInfos = (nc: NatsConnection, name: string, quick = false): Promise<ServiceInfo[]> =>
  collect(() => client(nc, quick).info(name) as Promise<AsyncIterable<ServiceInfo>>);

export const serviceStats = (nc: NatsConnection, quick = false): Promise<ServiceStats[]> =>
  collect(() => client(nc, quick).stats() as Promise<AsyncIterable<ServiceStats>>);
