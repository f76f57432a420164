// Emulated hosts on one Linux machine: a network namespace per host, each joined to one bridge by a veth pair,
// the links' bandwidth shaped by tc tbf on both ends; a link pulled and put back like a cable. Needs root and iproute2.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { HostNetworkError } from './errors.js';

const run = promisify(execFile);

/** What a link between a host and the switch costs; `rateMbit` absent: as fast as the veth goes. */
export interface LinkShape {
  /** One-way latency added between two hosts (by delay relays on the routes, see hosts.ts). */
  delayMs: number;
  rateMbit?: number;
}

export interface NetworkHost {
  name: string;
  /** The `ip netns` name; run a command in it with `inNamespace`. */
  namespace: string;
  ip: string;
  /** The veth end on the switch's side: down is a pulled cable. */
  switchPort: string;
}

/** tbf's queue: packets wait at most this long for tokens before they are dropped, like a switch's buffer. */
const TBF_LATENCY = '50ms';
const MIN_BURST_BYTES = 64 * 1024;
const FIRST_HOST_OCTET = 10;
// networks this process made, removed at exit even when a test crashes
const made = new Set<HostNetwork>();
let exitCleanupInstalled = false;

export class HostNetwork {
  private constructor(
    readonly tag: string,
    readonly bridge: string,
    readonly switchIp: string,
    readonly hosts: NetworkHost[],
  ) {}

  /** Makes one namespace per name on a fresh /24, with their links shaped as `link` says. */
  static async create(names: string[], link: LinkShape): Promise<HostNetwork> {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      throw new HostNetworkError('emulated hosts need Linux network namespaces and root: run as root (or in a VM or container where you are)');
    }
    await ip(['-V']).catch((err) => {
      throw new HostNetworkError('the `ip` command is missing: apt-get install iproute2', { cause: err });
    });
    const tag = randomBytes(2).toString('hex');
    const subnet = await freeSubnet();
    const bridge = `eb${tag}`;
    const hosts = names.map((name, i) => ({ name, namespace: `eaas-${tag}-${name}`, ip: `${subnet}.${FIRST_HOST_OCTET + i}`, switchPort: `ev${tag}${i}` }));
    const network = new HostNetwork(tag, bridge, `${subnet}.1`, hosts);
    made.add(network);
    installExitCleanup();
    try {
      await ip(['link', 'add', bridge, 'type', 'bridge']);
      await ip(['addr', 'add', `${network.switchIp}/24`, 'dev', bridge]);
      await ip(['link', 'set', bridge, 'up']);
      for (const h of hosts) {
        await ip(['netns', 'add', h.namespace]);
        await ip(['link', 'add', h.switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.namespace]);
        await ip(['link', 'set', h.switchPort, 'master', bridge, 'up']);
        await ip(['-n', h.namespace, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
        await ip(['-n', h.namespace, 'link', 'set', 'eth0', 'up']);
        await ip(['-n', h.namespace, 'link', 'set', 'lo', 'up']);
        if (link.rateMbit !== undefined) {
          // both ends: the host's upload leaves by eth0, its download by the switch's port
          await shape([], ['dev', h.switchPort], link.rateMbit);
          await shape(['ip', 'netns', 'exec', h.namespace], ['dev', 'eth0'], link.rateMbit);
        }
      }
    } catch (err) {
      await network.destroy();
      throw err instanceof HostNetworkError ? err : new HostNetworkError(`cannot make the hosts' network: ${message(err)}`, { cause: err });
    }
    return network;
  }

  host(name: string): NetworkHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new HostNetworkError(`no host "${name}" (hosts: ${this.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  /** The cable out: nothing reaches the host or leaves it, and nothing is closed (connections hang until it is back). */
  async pull(name: string): Promise<void> {
    await ip(['link', 'set', this.host(name).switchPort, 'down']);
  }

  async restore(name: string): Promise<void> {
    await ip(['link', 'set', this.host(name).switchPort, 'up']);
  }

  /** Removes the namespaces (their veths go with them) and the bridge; processes still in a namespace keep it alive. */
  async destroy(): Promise<void> {
    made.delete(this);
    for (const h of this.hosts) await ip(['netns', 'del', h.namespace]).catch(() => {});
    await ip(['link', 'del', this.bridge]).catch(() => {});
  }

  destroySync(): void {
    made.delete(this);
    for (const h of this.hosts) quietly(() => execFileSync('ip', ['netns', 'del', h.namespace], { stdio: 'ignore' }));
    quietly(() => execFileSync('ip', ['link', 'del', this.bridge], { stdio: 'ignore' }));
  }
}

/** `command` run inside the host's namespace (ip netns exec replaces itself with it: the pid is the command's). */
export function inNamespace(host: NetworkHost, command: string, args: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', host.namespace, command, ...args]];
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new HostNetworkError(`ip ${args.join(' ')}: ${message(err)}`, { cause: err });
  }
}

function tbfArgs(dev: string[], rateMbit: number): string[] {
  const burst = Math.max(MIN_BURST_BYTES, Math.ceil((rateMbit * 1e6) / 8 / 1000));
  return ['qdisc', 'add', ...dev, 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', String(burst), 'latency', TBF_LATENCY];
}

/** tbf on `dev`'s egress; `prefix` runs tc in a host's namespace. */
async function shape(prefix: string[], dev: string[], rateMbit: number): Promise<void> {
  const [command, ...args] = [...prefix, 'tc', ...tbfArgs(dev, rateMbit)];
  try {
    await run(command!, args);
  } catch (err) {
    throw new HostNetworkError(`${command} ${args.join(' ')}: ${message(err)}`, { cause: err });
  }
}

/** A 10.x.y.0/24 no interface of this machine is on. */
async function freeSubnet(): Promise<string> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr']);
  for (;;) {
    const subnet = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
    if (!stdout.includes(` ${subnet}.`)) return subnet;
  }
}

/** Removes every network this process made, at once (a signal that ends the process before they are stopped). */
export function destroyAllNetworksSync(): void {
  for (const n of [...made]) n.destroySync();
}

function installExitCleanup(): void {
  if (exitCleanupInstalled) return;
  exitCleanupInstalled = true;
  process.once('exit', destroyAllNetworksSync);
}

function quietly(f: () => void): void {
  try {
    f();
  } catch {
    // already gone
  }
}

function message(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n')[0]!;
}
