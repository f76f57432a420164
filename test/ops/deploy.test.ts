// The deployment files, checked without a cluster: the Kubernetes manifests in ops/k8s against each other, against the
// secrets `eaas secure init` writes, against the flags and settings the eaas CLI reads and the ports its processes
// serve; the NATS configs with `nats-server -t`; the Dockerfile against the image name, ports and tools they assume.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FLAGS as NODE_FLAGS } from '../../runtime/cli/node.js';
import { FLAGS as UP_FLAGS } from '../../runtime/cli/up.js';
import { envName, intFlag, parseFlags } from '../../runtime/cli/flags.js';
import { DEFAULT_HTTP_PORT, modelName } from '../../runtime/node/cluster.js';
import { exportDeployment } from '../../runtime/node/secure.js';
import { SETTINGS, settingsFromEnv } from '../../runtime/node/settings.js';
import { DEFAULT_MAX_PAYLOAD } from '../../runtime/transport/nats-server.js';

type Obj = any;

const ROOT = join(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const K8S = readdirSync(join(ROOT, 'ops/k8s')).filter((f) => /\.ya?ml$/.test(f)).map((f) => `ops/k8s/${f}`);
const parsed = K8S.map((file) => ({ file, docs: Array.from(parseAllDocuments(read(file)) as Obj[]) }));
const objects: Obj[] = parsed.flatMap(({ docs }) => docs.map((d) => d.toJS()).filter((o) => o !== null));
const byKind = (kind: string): Obj[] => objects.filter((o) => o.kind === kind);
const named = (kind: string, name: string): Obj | undefined => byKind(kind).find((o) => o.metadata.name === name);
/** The comment lines of the manifests, without their `#`: where the secrets' commands are documented. */
const comments = K8S.flatMap((f) => read(f).split('\n')).filter((l) => /^\s*#/.test(l)).map((l) => l.replace(/^\s*#\s?/, ''));

// ---- the Dockerfile ----
const dockerfile = read('ops/Dockerfile');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [, op, arg] = /^(\w+)\s+(.*)$/.exec(l)!;
    return { op: op.toUpperCase(), arg };
  });
/** The instructions of the image that ships (the last stage). */
const finalStage = instructions.slice(instructions.map((i) => i.op).lastIndexOf('FROM'));
const finalOp = (op: string) => finalStage.filter((i) => i.op === op).map((i) => i.arg);
/** The image name the Dockerfile's header builds, which the manifests must run. */
const IMAGE = /docker build -f ops\/Dockerfile -t (\S+) \./.exec(dockerfile)![1];
const WORKDIR = finalOp('WORKDIR').at(-1)!;
/** The uid of the node base image's `node` user, which the Dockerfile switches to. */
const NODE_UID = 1000;

// ---- workloads ----
interface Pod {
  workload: Obj;
  spec: Obj;
  labels: Record<string, string>;
}
const pods: Pod[] = objects
  .filter((o) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind))
  .map((w) => ({ workload: w, spec: w.spec.template.spec, labels: w.spec.template.metadata.labels }));
const containersOf = (pod: Pod): Obj[] => [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
const isEaas = (c: Obj) => c.image === IMAGE;
const isNats = (c: Obj) => /^nats:/.test(c.image);
const eaasPods = pods.filter((p) => containersOf(p).some(isEaas));
const natsSts = byKind('StatefulSet').find((s) => s.spec.template.spec.containers.some(isNats));
const configMapData = (name: string): Record<string, string> => named('ConfigMap', name)?.data ?? {};

/** The environment a container starts with (secret values and pod fields stand in as placeholders). */
function envOf(c: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) if (from.configMapRef) Object.assign(env, configMapData(from.configMapRef.name));
  for (const e of c.env ?? []) env[e.name] = e.value ?? (e.valueFrom?.secretKeyRef ? 'a-secret-value' : 'a-pod-field');
  return env;
}

/** `eaas node`'s flags as the CLI reads this container's args and environment. */
function nodeFlags(c: Obj) {
  expect(c.command, `${c.name}: the image's entry point runs the CLI`).toBeUndefined();
  expect(c.args[0]).toBe('node');
  return parseFlags(c.args.slice(1), NODE_FLAGS, envOf(c)).values;
}

/** The nats.conf a NATS container runs (its -c file, found through its mounts). */
function natsConfOf(pod: Pod, c: Obj): string {
  const file = c.args[c.args.indexOf('-c') + 1];
  const mount = c.volumeMounts.find((m: Obj) => file.startsWith(m.mountPath + '/'));
  const volume = pod.spec.volumes.find((v: Obj) => v.name === mount.name);
  return configMapData(volume.configMap.name)[file.slice(mount.mountPath.length + 1)];
}
const confPort = (conf: string, re: RegExp) => Number(re.exec(conf)![1]);

/**
 * What a container's process listens on where a probe or a Service can reach it (the pod's address, not loopback):
 * port -> the HTTP paths it answers, or 'tcp'.
 */
function served(pod: Pod, c: Obj): Map<number, string[] | 'tcp'> {
  const out = new Map<number, string[] | 'tcp'>();
  if (isEaas(c)) {
    const values = nodeFlags(c);
    const roles = String(values.role).split(',');
    const host = String(values['http-host'] ?? '127.0.0.1');
    if (host !== '0.0.0.0' && host !== '::') return out;
    // the API front (actors/api/front.ts): /health 503 while no gate serves, /metrics always 200
    if (roles.includes('api')) out.set(intFlag(values, 'http-port', DEFAULT_HTTP_PORT, 0), ['/health', '/metrics', '/v1/completions', '/v1/chat/completions', '/v1/models']);
    // a node's own metrics server (observability/metrics-server.ts): GET /metrics only, at --http-host
    const metrics = settingsFromEnv(envOf(c)).metricsPort;
    if (metrics !== undefined) out.set(metrics, ['/metrics']);
  } else if (isNats(c)) {
    const conf = natsConfOf(pod, c);
    out.set(confPort(conf, /^port:\s*(\d+)/m), 'tcp');
    out.set(confPort(conf, /^cluster\s*\{[^}]*?\bport:\s*(\d+)/ms), 'tcp');
    out.set(confPort(conf, /^http_port:\s*(\d+)/m), ['/healthz', '/varz', '/jsz']);
  }
  return out;
}
const portNumber = (c: Obj, port: number | string): number | undefined => (typeof port === 'number' ? port : c.ports?.find((p: Obj) => p.name === port)?.containerPort);

// ---- secrets: what `eaas secure init` writes and the documented kubectl commands make of it ----
const secureInit = comments.map((l) => /npx eaas secure init (\S+) --model (\S+) --hosts (\S+)/.exec(l)).find((m) => m !== null)!;
const [, initDir, initModel, initHosts] = secureInit;
const documentedSecrets = new Map<string, { keys: Set<string>; files: Map<string, string> }>();
for (const line of comments) {
  const m = /kubectl create secret generic (\S+) (.+)$/.exec(line);
  if (!m) continue;
  const secret = { keys: new Set<string>(), files: new Map<string, string>() };
  for (const [, key, path] of m[2].matchAll(/--from-file=(?:([^=\s]+)=)?(\S+)/g)) {
    secret.keys.add(key ?? basename(path));
    secret.files.set(key ?? basename(path), path);
  }
  for (const [, key] of m[2].matchAll(/--from-literal=([^=\s]+)=/g)) secret.keys.add(key);
  documentedSecrets.set(m[1], secret);
}
/** The keys of a Secret: made by a documented command or defined in the manifests. */
const secretKeys = (name: string): Set<string> | undefined =>
  documentedSecrets.get(name)?.keys ?? (named('Secret', name) ? new Set(Object.keys({ ...named('Secret', name).data, ...named('Secret', name).stringData })) : undefined);

/** Which credentials each role of `eaas node` connects with (`eaas secure init` writes no per-node ones). */
const ROLE_CREDS: Record<string, string> = { gate: 'gate.creds', supervisor: 'supervisor.creds', controller: 'controller.creds', api: 'client.creds' };

let secrets: string;
beforeAll(async () => {
  secrets = join(mkdtempSync(join(tmpdir(), 'eaas-deploy-')), 'secrets');
  await exportDeployment(secrets, initModel, initHosts.split(','));
});
/** A documented `--from-file` path, in the directory this test's `eaas secure init` wrote. */
const secretFile = (path: string) => join(secrets, posix.relative(initDir, path));

describe('Kubernetes manifests (ops/k8s)', () => {
  it('parse without errors as Kubernetes objects with a kind, a name and an apiVersion', () => {
    for (const { file, docs } of parsed) for (const d of docs) expect(d.errors, file).toEqual([]);
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      expect(o.apiVersion).toBeTruthy();
      expect(o.kind).toBeTruthy();
      expect(o.metadata.name).toBeTruthy();
    }
  });

  it('read the same as YAML 1.1, the dialect Kubernetes parses (no 0440 octals, yes/no booleans)', () => {
    for (const { file, docs } of parsed) {
      const v11 = Array.from(parseAllDocuments(read(file), { version: '1.1' }) as Obj[]).map((d) => d.toJS());
      expect(v11, file).toEqual(docs.map((d) => d.toJS()));
    }
  });

  it('run the image the Dockerfile builds (not pulled), or a pinned NATS image', () => {
    expect(eaasPods.map((p) => p.workload.metadata.name).sort()).toEqual(['eaas-api', 'eaas-controller', 'eaas-gate', 'eaas-supervisor']);
    for (const pod of pods) {
      for (const c of containersOf(pod)) {
        if (isEaas(c)) {
          // a locally built image: with :latest Kubernetes would otherwise always pull it
          if (IMAGE.endsWith(':latest') || !IMAGE.includes(':')) expect(c.imagePullPolicy, c.name).toBe('IfNotPresent');
        } else {
          expect(c.image, `${c.name}: an image the Dockerfile builds (${IMAGE}) or NATS`).toMatch(/^nats:\d+\.\d+(\.\d+)?(-alpine)?$/);
        }
      }
    }
  });

  it('select their own pods: workload selectors and Service selectors match pod labels', () => {
    const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
    for (const pod of pods) expect(matches(pod.workload.spec.selector.matchLabels, pod.labels), pod.workload.metadata.name).toBe(true);
    for (const svc of byKind('Service')) expect(pods.filter((p) => matches(svc.spec.selector, p.labels)).length, svc.metadata.name).toBeGreaterThan(0);
    for (const pdb of byKind('PodDisruptionBudget')) expect(pods.filter((p) => matches(pdb.spec.selector.matchLabels, p.labels)).length, pdb.metadata.name).toBeGreaterThan(0);
  });

  it('target container ports that exist and that the process serves', () => {
    for (const svc of byKind('Service')) {
      const selected = pods.filter((p) => Object.entries(svc.spec.selector).every(([k, v]) => p.labels[k] === v));
      for (const port of svc.spec.ports) {
        for (const pod of selected) {
          const target = port.targetPort ?? port.port;
          const owner = containersOf(pod).find((c) => portNumber(c, target) !== undefined && c.ports?.some((p: Obj) => p.containerPort === portNumber(c, target)));
          expect(owner, `${svc.metadata.name}:${port.port} -> ${pod.workload.metadata.name}:${target}`).toBeDefined();
          expect(served(pod, owner).has(portNumber(owner, target)!)).toBe(true);
        }
      }
    }
    // the StatefulSet's DNS names come from a headless Service published before the pods are ready (routes form first)
    const headless = named('Service', natsSts.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
  });

  it('declare exactly the ports each process listens on, and probe paths it answers', () => {
    for (const pod of pods) {
      for (const c of containersOf(pod)) {
        const where = `${pod.workload.metadata.name}/${c.name}`;
        const ports = served(pod, c);
        expect((c.ports ?? []).map((p: Obj) => p.containerPort).sort(), where).toEqual([...ports.keys()].sort());
        expect(c.readinessProbe, `${where} readiness`).toBeDefined();
        expect(c.livenessProbe, `${where} liveness`).toBeDefined();
        for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          const probe = c[kind];
          if (!probe) continue;
          expect(probe.exec, `${where} ${kind}: the images have no probe commands`).toBeUndefined();
          const action = probe.httpGet ?? probe.tcpSocket;
          const port = portNumber(c, action.port);
          expect(port, `${where} ${kind}: port ${action.port}`).toBeDefined();
          expect(ports.has(port!), `${where} ${kind}: nothing listens on ${port} where the kubelet reaches it`).toBe(true);
          if (probe.httpGet) expect(ports.get(port!), `${where} ${kind}`).toContain(probe.httpGet.path.split('?')[0]);
        }
        // Prometheus scrapes what is served
        const ann = pod.workload.spec.template.metadata.annotations ?? {};
        if (ann['prometheus.io/scrape'] === 'true') expect(ports.get(Number(ann['prometheus.io/port']))).toContain(ann['prometheus.io/path'] ?? '/metrics');
      }
    }
    // the HTTP front: out of the Service while no gate serves (/health 503), but never restarted for it
    const api = named('Deployment', 'eaas-api').spec.template.spec.containers[0];
    expect(api.readinessProbe.httpGet.path).toBe('/health');
    expect(api.livenessProbe.httpGet?.path).not.toBe('/health');
    // NATS: the monitoring endpoint's /healthz, as the official chart probes it
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) expect(natsSts.spec.template.spec.containers[0][kind].httpGet.path).toMatch(/^\/healthz/);
  });

  it('give every container resource requests and limits (limits at least the requests)', () => {
    const cpu = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));
    const UNITS: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 };
    const bytes = (q: string) => {
      const [, n, unit] = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(q)!;
      return Number(n) * UNITS[unit ?? ''];
    };
    for (const pod of pods) {
      for (const c of containersOf(pod)) {
        const r = c.resources ?? {};
        const where = `${pod.workload.metadata.name}/${c.name}`;
        for (const k of ['cpu', 'memory']) {
          expect(typeof r.requests?.[k], `${where} requests.${k} (a string)`).toBe('string');
          expect(typeof r.limits?.[k], `${where} limits.${k} (a string)`).toBe('string');
        }
        expect(cpu(r.limits.cpu)).toBeGreaterThanOrEqual(cpu(r.requests.cpu));
        expect(bytes(r.limits.memory)).toBeGreaterThanOrEqual(bytes(r.requests.memory));
      }
    }
  });

  it('run every container as a non-root user, without privilege escalation, on a read-only root with writable scratch', () => {
    for (const pod of pods) {
      expect(pod.spec.automountServiceAccountToken, pod.workload.metadata.name).toBe(false);
      for (const c of containersOf(pod)) {
        const where = `${pod.workload.metadata.name}/${c.name}`;
        const sc = { ...pod.spec.securityContext, ...c.securityContext };
        expect(sc.runAsNonRoot, where).toBe(true);
        expect(sc.runAsUser, where).toBeGreaterThan(0);
        if (isEaas(c)) expect(sc.runAsUser, `${where}: the image's node user`).toBe(NODE_UID);
        expect(sc.allowPrivilegeEscalation, where).toBe(false);
        expect(sc.readOnlyRootFilesystem, where).toBe(true);
        expect(sc.capabilities?.drop, where).toContain('ALL');
        const writable = (path: string) => {
          const m = c.volumeMounts.find((v: Obj) => path === v.mountPath || path.startsWith(v.mountPath + '/'));
          const volume = pod.spec.volumes?.find((v: Obj) => v.name === m?.name);
          const claim = pod.workload.spec.volumeClaimTemplates?.find((t: Obj) => t.metadata.name === m?.name);
          return m !== undefined && m.readOnly !== true && (volume?.emptyDir !== undefined || claim !== undefined);
        };
        // eaas writes nothing but maybe temp files; NATS its JetStream store and its pid file
        if (isEaas(c)) expect(writable('/tmp'), `${where}: /tmp`).toBe(true);
        if (isNats(c)) {
          const conf = natsConfOf(pod, c);
          for (const re of [/store_dir:\s*"([^"]+)"/, /pid_file:\s*"([^"]+)"/]) expect(writable(re.exec(conf)![1]), `${where}: ${re}`).toBe(true);
        }
      }
    }
  });

  it('define every volume they mount and mount every volume they define, with no host paths', () => {
    for (const pod of pods) {
      const where = pod.workload.metadata.name;
      const volumes = (pod.spec.volumes ?? []).map((v: Obj) => v.name);
      const claims = (pod.workload.spec.volumeClaimTemplates ?? []).map((t: Obj) => t.metadata.name);
      expect(new Set(volumes).size, `${where}: volume names are unique`).toBe(volumes.length);
      const mounted = new Set<string>();
      for (const c of containersOf(pod)) {
        const paths = c.volumeMounts.map((m: Obj) => m.mountPath);
        expect(new Set(paths).size, `${where}/${c.name}: mount paths are unique`).toBe(paths.length);
        for (const m of c.volumeMounts) {
          expect([...volumes, ...claims], `${where}/${c.name}: volume ${m.name}`).toContain(m.name);
          mounted.add(m.name);
        }
      }
      expect([...mounted].sort(), `${where}: every volume is mounted`).toEqual([...volumes, ...claims].sort());
      for (const v of pod.spec.volumes ?? []) {
        const kinds = ['secret', 'configMap', 'emptyDir', 'persistentVolumeClaim'].filter((k) => v[k] !== undefined);
        expect(kinds, `${where}: volume ${v.name}`).toHaveLength(1);
        if (v.persistentVolumeClaim) expect(named('PersistentVolumeClaim', v.persistentVolumeClaim.claimName), `${where}: claim ${v.persistentVolumeClaim.claimName}`).toBeDefined();
      }
    }
  });

  it('reference only Secrets the documented `eaas secure init` and kubectl commands make, and ConfigMaps they define', () => {
    // every file a kubectl command takes is one `eaas secure init` writes
    for (const [name, s] of documentedSecrets) for (const [key, path] of s.files) expect(existsSync(secretFile(path)), `${name}: ${key} from ${path}`).toBe(true);
    const checkSecret = (where: string, name: string, keys: string[]) => {
      const have = secretKeys(name);
      expect(have, `${where}: Secret ${name} is neither made by a documented command nor defined`).toBeDefined();
      for (const k of keys) expect([...have!], `${where}: key ${k} of Secret ${name}`).toContain(k);
    };
    const checkConfigMap = (where: string, name: string, keys: string[]) => {
      expect(named('ConfigMap', name), `${where}: ConfigMap ${name}`).toBeDefined();
      for (const k of keys) expect(Object.keys(configMapData(name)), `${where}: key ${k} of ConfigMap ${name}`).toContain(k);
    };
    for (const pod of pods) {
      const where = pod.workload.metadata.name;
      for (const v of pod.spec.volumes ?? []) {
        const items = (v.secret ?? v.configMap)?.items?.map((i: Obj) => i.key) ?? [];
        if (v.secret) checkSecret(where, v.secret.secretName, items);
        if (v.configMap) checkConfigMap(where, v.configMap.name, items);
      }
      for (const c of containersOf(pod)) {
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) checkConfigMap(where, from.configMapRef.name, []);
          if (from.secretRef) checkSecret(where, from.secretRef.name, []);
        }
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) checkSecret(where, ref.name, [ref.key]);
          const cm = e.valueFrom?.configMapKeyRef;
          if (cm) checkConfigMap(where, cm.name, [cm.key]);
        }
      }
    }
  });

  it('connect each eaas role with its own credentials over TLS, mounting no other secret', () => {
    const config = configMapData('eaas-config');
    for (const pod of eaasPods) {
      const c = pod.spec.containers.find(isEaas);
      const values = nodeFlags(c);
      const roles = String(values.role).split(',');
      expect(roles).toHaveLength(1);
      const file = ROLE_CREDS[roles[0]];
      const creds = String(values.creds);
      const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.name, m.mountPath]));
      expect(creds).toBe(`${mounts.creds}/${file}`);
      expect(String(values['tls-ca'])).toBe(`${mounts.tls}/ca.pem`);
      expect(values['tls-ca']).toBe(config.EAAS_TLS_CA);
      const volumes = Object.fromEntries(pod.spec.volumes.map((v: Obj) => [v.name, v.secret]));
      // only this role's credentials, and only the CA of the TLS secret (the server key stays with the servers)
      expect(volumes.creds).toMatchObject({ secretName: 'eaas-creds', items: [{ key: file, path: file }] });
      expect(volumes.tls).toMatchObject({ secretName: 'nats-tls', items: [{ key: 'ca.pem', path: 'ca.pem' }] });
    }
  });

  it('point every eaas pod at each server of the NATS StatefulSet, by names its certificate carries', () => {
    const expected = Array.from({ length: natsSts.spec.replicas }, (_, i) => `nats://${natsSts.metadata.name}-${i}.${natsSts.spec.serviceName}:4222`);
    const config = configMapData('eaas-config');
    expect(config.EAAS_NATS.split(',')).toEqual(expected);
    for (const pod of eaasPods) expect(nodeFlags(pod.spec.containers.find(isEaas)).nats).toBe(config.EAAS_NATS);
    // the certificate `eaas secure init --hosts` makes names every server the clients and the routes dial
    const routes = [...configMapData('nats-config')['nats.conf'].matchAll(/nats-route:\/\/([^:\s]+):/g)].map((m) => m[1]);
    const cert = spawnSync('openssl', ['x509', '-in', join(secrets, 'tls', 'server.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(cert.status, cert.stderr).toBe(0);
    for (const host of new Set([...expected.map((u) => new URL(u).hostname), ...routes])) expect(cert.stdout, host).toContain(`DNS:${host}`);
  });

  it('serve the model the image ships, under the name the credentials were made for', () => {
    const dir = configMapData('eaas-config').EAAS_MODEL;
    // copied into the image from the repository (the build stage copies the repository to the same WORKDIR)
    expect(dir.startsWith(WORKDIR + '/')).toBe(true);
    const rel = posix.relative(WORKDIR, dir);
    const copied = finalOp('COPY').map((a) => a.split(/\s+/)).find((a) => a[0] === '--from=build' && rel.startsWith(a[2] + '/') && a[1] === `${WORKDIR}/${a[2]}`);
    expect(copied, `${dir} is copied into the image`).toBeDefined();
    expect(instructions.some((i) => i.op === 'COPY' && i.arg === `${rel.split('/')[0]} ${rel.split('/')[0]}`)).toBe(true);
    expect(existsSync(join(ROOT, rel, 'tokenizer.json')), `${rel} in the repository`).toBe(true);
    // the credentials allow that model's subjects only
    expect(modelName(dir)).toBe(initModel);
    for (const pod of eaasPods) expect(nodeFlags(pod.spec.containers.find(isEaas)).model).toBe(dir);
  });

  it('set only EAAS_ variables the CLI reads, as strings, and no Service link variables', () => {
    const known = new Set([...Object.keys(NODE_FLAGS).map(envName), ...Object.values(SETTINGS).map((s) => s.env)]);
    for (const cm of byKind('ConfigMap')) for (const [k, v] of Object.entries(cm.data ?? {})) expect(typeof v, `${cm.metadata.name}.${k}`).toBe('string');
    for (const pod of eaasPods) {
      // Kubernetes would add EAAS_API_PORT and the like for the eaas-api Service: read as EAAS_ flags
      expect(pod.spec.enableServiceLinks, pod.workload.metadata.name).toBe(false);
      for (const c of containersOf(pod)) {
        for (const e of c.env ?? []) if (e.value !== undefined) expect(typeof e.value, `${c.name}: ${e.name}`).toBe('string');
        for (const name of Object.keys(envOf(c)).filter((n) => n.startsWith('EAAS_'))) expect(known.has(name), `${c.name}: ${name} is no flag of eaas node nor a setting`).toBe(true);
        settingsFromEnv(envOf(c));
      }
    }
    // the front's keys: from a Secret that may be absent (an open front)
    const key = named('Deployment', 'eaas-api').spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'EAAS_API_KEY');
    expect(key.valueFrom.secretKeyRef.optional).toBe(true);
  });
});

describe('NATS configs (ops/k8s/nats.yaml, ops/nats/cluster.conf)', () => {
  const conf = configMapData('nats-config')['nats.conf'];
  const clusterConf = read('ops/nats/cluster.conf');
  const body = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('server_name:'));

  it('have a max_payload at least the embedded server’s, TLS, auth, JetStream on a volume, and are the same config', () => {
    const maxPayloadBytes = (text: string) => Number(/max_payload:\s*(\d+)MB/.exec(text)![1]) * 1024 * 1024;
    expect(maxPayloadBytes(conf)).toBeGreaterThanOrEqual(DEFAULT_MAX_PAYLOAD);
    expect(conf).toMatch(/include \.\.\/auth\/auth\.conf/);
    expect(body(clusterConf)).toEqual(body(conf));
    // JetStream's files fit the StatefulSet's volume
    const GB = 2 ** 30;
    const maxFile = Number(/max_file_store:\s*(\d+)GB/.exec(conf)![1]) * GB;
    const claim = natsSts.spec.volumeClaimTemplates.find((t: Obj) => /store_dir:\s*"([^"]+)"/.exec(conf)![1].startsWith(natsSts.spec.template.spec.containers[0].volumeMounts.find((m: Obj) => m.name === t.metadata.name).mountPath));
    expect(claim).toBeDefined();
    expect(Number(/^(\d+)Gi$/.exec(claim.spec.resources.requests.storage)![1]) * GB).toBeGreaterThan(maxFile);
  });

  it('find their TLS files and auth.conf in the Secrets the StatefulSet mounts', () => {
    const pod = pods.find((p) => p.workload === natsSts)!;
    const c = pod.spec.containers[0];
    const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.name, m.mountPath]));
    const secretOf = (name: string) => pod.spec.volumes.find((v: Obj) => v.name === name).secret.secretName;
    // `include` is relative to the config file's directory
    const include = posix.join(mounts.config, /include (\S+)/.exec(conf)![1]);
    expect(posix.dirname(include)).toBe(mounts.auth);
    expect([...secretKeys(secretOf('auth'))!]).toContain(posix.basename(include));
    for (const [, file] of conf.matchAll(/_file:\s*"(\/etc\/[^"]+)"/g)) {
      expect(posix.dirname(file)).toBe(mounts.tls);
      expect([...secretKeys(secretOf('tls'))!]).toContain(posix.basename(file));
    }
  });

  it('pass `nats-server -t` with the secrets `eaas secure init` makes, laid out as the StatefulSet mounts them', () => {
    const dir = join(secrets, '..');
    const tlsMount = natsSts.spec.template.spec.containers[0].volumeMounts.find((m: Obj) => m.name === 'tls').mountPath;
    mkdirSync(join(dir, 'config'), { recursive: true });
    mkdirSync(join(dir, 'auth'), { recursive: true });
    copyFileSync(secretFile(documentedSecrets.get('nats-auth')!.files.get('auth.conf')!), join(dir, 'auth', 'auth.conf'));
    for (const [name, text] of [['nats.conf', conf], ['cluster.conf', clusterConf]]) {
      const file = join(dir, 'config', name);
      writeFileSync(file, text.replaceAll(`${tlsMount}/`, `${join(secrets, 'tls')}/`));
      const check = spawnSync('nats-server', ['-t', '-c', file], { env: { ...process.env, POD_NAME: 'nats-0', SERVER_NAME: 'nats-0' }, encoding: 'utf8' });
      expect(check.status, check.stderr + check.stdout).toBe(0);
    }
  });
});

describe('ops/Dockerfile', () => {
  it('has an entry point that is the built CLI', () => {
    expect(JSON.parse(finalOp('ENTRYPOINT').at(-1)!)).toEqual(['node', '/opt/eaas/dist/runtime/cli/main.js']);
    expect(JSON.parse(read('package.json')).bin.eaas).toBe('dist/runtime/cli/main.js');
    expect(WORKDIR).toBe('/opt/eaas');
  });

  it('runs as a non-root user once the system packages are in', () => {
    const user = finalOp('USER').at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
    // the user the manifests run the image as (runAsUser)
    expect(['node', String(NODE_UID)]).toContain(user!.split(':')[0]);
    expect(finalStage.map((i) => i.op).lastIndexOf('USER')).toBeGreaterThan(finalStage.map((i) => i.op).lastIndexOf('RUN'));
  });

  it('serves the HTTP front on every address, exposes its port and checks its health there', () => {
    const cmd: string[] = JSON.parse(finalOp('CMD').at(-1)!);
    expect(cmd[0]).toBe('up');
    const { values } = parseFlags(cmd.slice(1), UP_FLAGS, {});
    expect(values['http-host']).toBe('0.0.0.0');
    const port = intFlag(values, 'http-port', DEFAULT_HTTP_PORT, 1);
    const exposed = finalOp('EXPOSE').flatMap((a) => a.split(/\s+/)).map((p) => Number(p.split('/')[0]));
    expect(exposed).toContain(port);
    const health = finalOp('HEALTHCHECK').at(-1)!;
    const url = new URL(/(http:\/\/[^'"\s)]+)/.exec(health)![1]);
    expect(Number(url.port)).toBe(port);
    expect(['/health', '/metrics']).toContain(url.pathname);
    expect(health).toMatch(/CMD \["node", "-e"/);
  });

  it('installs what eaas shells out to (the system packages of ops/install.sh) and skips the CUDA download', () => {
    const packages = /^PACKAGES=\(([^)]*)\)/m.exec(read('ops/install.sh'))![1].trim().split(/\s+/);
    expect(packages).toEqual(expect.arrayContaining(['nats-server', 'openssl']));
    const apt = finalOp('RUN').find((r) => r.includes('apt-get install'))!;
    for (const p of packages) expect(apt.split(/\s+/), p).toContain(p);
    const npm = instructions.find((i) => i.op === 'RUN' && /\bnpm (ci|install)\b/.test(i.arg))!;
    expect(npm.arg).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
  });
});
