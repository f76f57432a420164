import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { exportDeployment } from '../runtime/node/secure.js';
import { DEFAULT_MAX_PAYLOAD } from '../runtime/transport/nats-server.js';

const ROOT = join(import.meta.dirname, '..');
const docs = (file: string) => parseAllDocuments(readFileSync(join(ROOT, file), 'utf8')).map((d) => d.toJS());
const maxPayloadBytes = (conf: string) => Number(/max_payload:\s*(\d+)MB/.exec(conf)![1]) * 1024 * 1024;

describe('deployment files', () => {
  const nats = docs('ops/k8s/nats.yaml');
  const eaas = docs('ops/k8s/eaas.yaml');
  const byKind = (all: any[], kind: string) => all.filter((d) => d.kind === kind);

  it('parse as Kubernetes objects with a kind, a name and an apiVersion', () => {
    for (const d of [...nats, ...eaas]) {
      expect(d.apiVersion).toBeTruthy();
      expect(d.kind).toBeTruthy();
      expect(d.metadata.name).toBeTruthy();
    }
  });

  it('point every eaas pod at each server of the NATS StatefulSet', () => {
    const sts = byKind(nats, 'StatefulSet')[0];
    const expected = Array.from({ length: sts.spec.replicas }, (_, i) => `nats://${sts.metadata.name}-${i}.${sts.spec.serviceName}:4222`);
    const config = byKind(eaas, 'ConfigMap')[0].data;
    expect(config.EAAS_NATS.split(',')).toEqual(expected);
    for (const w of [...byKind(eaas, 'Deployment'), ...byKind(eaas, 'DaemonSet')]) {
      const c = w.spec.template.spec.containers[0];
      expect(c.envFrom[0].configMapRef.name).toBe('eaas-config');
      expect(c.args[0]).toBe('node');
      const role = c.args[c.args.indexOf('--role') + 1];
      expect(['gate', 'supervisor']).toContain(role);
      // each role connects with its own credentials, over TLS with the cluster's CA
      const creds = c.args[c.args.indexOf('--creds') + 1];
      expect(creds).toBe(`/etc/eaas/creds/${role}.creds`);
      const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m.mountPath]));
      expect(creds.startsWith(mounts.creds + '/')).toBe(true);
      expect(config.EAAS_TLS_CA.startsWith(mounts.tls + '/')).toBe(true);
      const volumes = Object.fromEntries(w.spec.template.spec.volumes.map((v: any) => [v.name, v.secret?.secretName]));
      expect(volumes).toMatchObject({ creds: 'eaas-creds', tls: 'nats-tls' });
    }
  });

  it('give the NATS servers a max_payload at least the embedded server’s, TLS, auth, and a valid config', async () => {
    const conf = byKind(nats, 'ConfigMap')[0].data['nats.conf'];
    expect(maxPayloadBytes(conf)).toBeGreaterThanOrEqual(DEFAULT_MAX_PAYLOAD);
    expect(conf).toMatch(/include \.\.\/auth\/auth\.conf/);
    // the secrets `eaas secure init` makes, laid out as the StatefulSet mounts them (tls paths moved into the temp dir)
    const dir = mkdtempSync(join(tmpdir(), 'eaas-deploy-'));
    const secrets = join(dir, 'secrets');
    await exportDeployment(secrets, 'tiny', ['nats-0.nats', 'nats-1.nats', 'nats-2.nats', 'nats']);
    mkdirSync(join(dir, 'config'));
    mkdirSync(join(dir, 'auth'));
    copyFileSync(join(secrets, 'auth.conf'), join(dir, 'auth', 'auth.conf'));
    const sts = byKind(nats, 'StatefulSet')[0].spec.template.spec;
    const mounts = Object.fromEntries(sts.containers[0].volumeMounts.map((m: any) => [m.name, m.mountPath]));
    expect(Object.fromEntries(sts.volumes.map((v: any) => [v.name, v.secret?.secretName ?? v.configMap?.name]))).toEqual({ config: 'nats-config', auth: 'nats-auth', tls: 'nats-tls' });
    for (const [name, text] of [['nats.conf', conf], ['cluster.conf', readFileSync(join(ROOT, 'ops/nats/cluster.conf'), 'utf8')]]) {
      const file = join(dir, 'config', name);
      writeFileSync(file, text.replaceAll(`${mounts.tls}/`, `${join(secrets, 'tls')}/`));
      const check = spawnSync('nats-server', ['-t', '-c', file], { env: { ...process.env, POD_NAME: 'nats-0', SERVER_NAME: 'nats-0' }, encoding: 'utf8' });
      expect(check.status, check.stderr + check.stdout).toBe(0);
    }
  });

  it('has a Dockerfile whose entry point is the built CLI', () => {
    const dockerfile = readFileSync(join(ROOT, 'ops/Dockerfile'), 'utf8');
    const entry = /ENTRYPOINT \[(.*)\]/.exec(dockerfile)![1];
    expect(JSON.parse(`[${entry}]`)).toEqual(['node', '/opt/eaas/dist/runtime/cli/main.js']);
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin.eaas).toBe('dist/runtime/cli/main.js');
  });
});
