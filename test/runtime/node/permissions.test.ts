// Least privilege, without a server: each role may use the subjects its code uses, every permission serves one of
// them, and what another role does stays refused. (test/runtime/node/secure.test.ts checks the same against real servers.)
import { describe, expect, it } from 'vitest';
import { EXPERT_SERVICE, GATE_SERVICE, SUPERVISOR_SERVICE } from '../../../actors/protocol/services.js';
import { clientPermissions, controllerPermissions, expertPermissions, followerPermissions, gatePermissions, monitorPermissions, operatorPermissions, supervisorPermissions } from '../../../runtime/node/permissions.js';
import { watchedSubjects } from '../../../actors/dashboard/watched.js';
import type { Permissions } from '../../../runtime/transport/auth.js';
import * as subjects from '../../../runtime/transport/subjects.js';

/** Whether a NATS permission `pattern` covers `subject` (`*` one token, `>` one or more). */
function covers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

const M = 'tiny';
const NODE = 'n1';
const ME = 'e1';
const reply = (p: Permissions) => `${p.inboxPrefix}.abc`;

// what nats.js publishes to read and write the placement bucket (seen in a nats-server protocol trace)
const B = `eaas_placement_${M}`;
const S = `KV_${B}`;
const KV_READ = [
  '$JS.API.INFO',
  `$JS.API.STREAM.INFO.${S}`,
  `$JS.API.STREAM.MSG.GET.${S}`,
  `$JS.API.DIRECT.GET.${S}.$KV.${B}.desired`,
  `$JS.API.CONSUMER.CREATE.${S}`,
  `$JS.API.CONSUMER.CREATE.${S}.J18GL7BJBMJA7RX0O1657K.$KV.${B}.desired`,
  `$JS.FC.${S}.consumer.1`,
];
const KV_CREATE = [`$JS.API.STREAM.CREATE.${S}`, `$JS.API.STREAM.UPDATE.${S}`];

interface Role {
  p: Permissions;
  /** What its code (or, for PING, the nats CLI run with its credentials) publishes and subscribes to. */
  pub: string[];
  sub: string[];
  /** What it must not do. */
  deniedPub: string[];
  deniedSub: string[];
}

const roles: Record<string, Role> = (() => {
  const expert = expertPermissions(M, NODE, ME);
  const supervisor = supervisorPermissions(M, NODE);
  const gate = gatePermissions(M, NODE);
  const client = clientPermissions('client');
  const monitor = monitorPermissions('monitor', M);
  const controller = controllerPermissions(M, NODE);
  const follower = followerPermissions(M, NODE);
  const operator = operatorPermissions('operator');
  return {
    expert: {
      p: expert,
      pub: [subjects.eventSubject(M, 'up', NODE, ME), subjects.actorLoad(M, NODE, ME)],
      sub: [subjects.expertDispatch(M, ME), subjects.discovery('INFO', EXPERT_SERVICE)],
      deniedPub: [subjects.eventSubject(M, 'down', NODE, 'e2'), subjects.actorLoad(M, NODE, 'e2'), subjects.expertDispatch(M, 'e2'), subjects.loadReport(M, NODE)],
      deniedSub: [subjects.expertDispatch(M, 'e2'), subjects.generate(M), reply(gate)],
    },
    supervisor: {
      p: supervisor,
      pub: [subjects.eventSubject(M, 'down', NODE, ME), subjects.eventSubject(M, 'escalated', NODE), subjects.discovery('INFO', EXPERT_SERVICE)],
      sub: [
        subjects.supervisorEndpoint(M, NODE, 'status'),
        subjects.supervisorEndpoint(M, NODE, 'retire'),
        subjects.actorLoad(M, 'n2', 'e2'),
        subjects.eventSubject(M, 'up', 'n2', 'e2'),
        subjects.discovery('INFO', SUPERVISOR_SERVICE),
        reply(supervisor),
      ],
      deniedPub: [subjects.eventSubject(M, 'down', 'n2', 'e2'), subjects.expertDispatch(M, ME), subjects.supervisorEndpoint(M, 'n2', 'retire')],
      deniedSub: [subjects.supervisorEndpoint(M, 'n2', 'retire'), subjects.expertDispatch(M, ME), reply(gate)],
    },
    gate: {
      p: gate,
      pub: [subjects.expertDispatch(M, ME), subjects.loadReport(M, NODE), subjects.gatePulse(M, NODE), subjects.gateReconnected(M, NODE), subjects.discovery('INFO', EXPERT_SERVICE), reply(client)],
      sub: [subjects.generate(M), subjects.gateCancel(M, NODE), subjects.gateResume(M, NODE), subjects.eventSubject(M, 'up', 'n2', ME), subjects.discovery('STATS', GATE_SERVICE), reply(gate)],
      deniedPub: [subjects.eventSubject(M, 'down', 'n2', ME), subjects.supervisorEndpoint(M, NODE, 'retire'), subjects.loadReport(M, 'n2'), subjects.gatePulse(M, 'n2'), subjects.gateReconnected(M, 'n2')],
      deniedSub: [subjects.gateCancel(M, 'n2'), subjects.gateResume(M, 'n2'), subjects.expertDispatch(M, ME), reply(client)],
    },
    client: {
      p: client,
      pub: [subjects.generate(M), subjects.gateCancel(M, NODE), subjects.gateResume(M, NODE), subjects.discovery('INFO', GATE_SERVICE), subjects.discovery('PING', GATE_SERVICE)],
      sub: [reply(client), subjects.gateReconnected(M, NODE)],
      deniedPub: [subjects.expertDispatch(M, ME), subjects.eventSubject(M, 'down', NODE, ME), subjects.supervisorEndpoint(M, NODE, 'retire'), subjects.discovery('INFO', EXPERT_SERVICE)],
      deniedSub: [subjects.eventsWildcard(M), subjects.generate(M), reply(gate), reply(monitor)],
    },
    monitor: {
      p: monitor,
      pub: [subjects.discovery('INFO', EXPERT_SERVICE), subjects.discovery('STATS', GATE_SERVICE), ...KV_READ],
      // what the dashboard's feed subscribes to
      sub: [reply(monitor), ...Object.values(watchedSubjects(M)), subjects.eventSubject(M, 'escalated', NODE), subjects.gateReconnected('other', NODE)],
      deniedPub: [subjects.generate(M), subjects.supervisorEndpoint(M, NODE, 'retire'), subjects.supervisorEndpoint(M, NODE, 'status'), subjects.eventSubject(M, 'down', NODE, ME), subjects.gatePulse(M, NODE), `$KV.${B}.desired`, `$KV.${B}.actual.${NODE}`, ...KV_CREATE, `$JS.API.STREAM.DELETE.${S}`, `$JS.API.STREAM.INFO.KV_eaas_placement_other`],
      deniedSub: [reply(client), subjects.generate(M), subjects.expertDispatch(M, ME), subjects.gateCancel(M, NODE)],
    },
    controller: {
      p: controller,
      pub: [...KV_READ, ...KV_CREATE, `$KV.${B}.desired`, `$KV.${B}.controller`, `$KV.${B}.lease`],
      sub: [subjects.loadReport(M, NODE), subjects.actorLoad(M, NODE, ME), reply(controller)],
      deniedPub: [`$KV.${B}.actual.${NODE}`, `$JS.API.STREAM.DELETE.${S}`, `$JS.API.STREAM.PURGE.${S}`, `$KV.eaas_placement_other.desired`, subjects.expertDispatch(M, ME), subjects.generate(M)],
      deniedSub: [subjects.generate(M), subjects.expertDispatch(M, ME), reply(monitor)],
    },
    follower: {
      p: follower,
      pub: [...KV_READ, ...KV_CREATE, `$KV.${B}.actual.${NODE}`],
      sub: [reply(follower)],
      deniedPub: [`$KV.${B}.actual.n2`, `$KV.${B}.desired`, `$KV.${B}.lease`, `$KV.${B}.controller`, `$JS.API.STREAM.DELETE.${S}`],
      deniedSub: [reply(controller), subjects.generate(M)],
    },
    operator: {
      p: operator,
      pub: [subjects.supervisorEndpoint(M, NODE, 'retire'), subjects.discovery('INFO', EXPERT_SERVICE)],
      sub: [reply(operator)],
      deniedPub: [subjects.supervisorEndpoint(M, NODE, 'status'), subjects.generate(M), subjects.eventSubject(M, 'down', NODE, ME)],
      deniedSub: [reply(client), subjects.eventsWildcard(M)],
    },
  };
})();

describe('role permissions', () => {
  for (const [name, r] of Object.entries(roles)) {
    it(`${name}: allows what it uses, each permission for some use, and refuses what it must not`, () => {
      for (const [allow, used, denied] of [
        [r.p.pub, r.pub, r.deniedPub],
        [r.p.sub, r.sub, r.deniedSub],
      ] as const) {
        for (const s of used) expect(allow.some((p) => covers(p, s)), `${s} allowed`).toBe(true);
        for (const p of allow) expect(used.some((s) => covers(p, s)), `${p} used`).toBe(true);
        for (const s of denied) expect(allow.some((p) => covers(p, s)), `${s} refused`).toBe(false);
      }
    });
  }

  it('gives fleet credentials (ANY node) the same subjects with a wildcard for the node', () => {
    expect(followerPermissions(M, subjects.ANY).pub).toContain(`$KV.${B}.actual.*`);
    expect(gatePermissions(M, subjects.ANY).sub).toContain(subjects.gateCancel(M, subjects.ANY));
    expect(expertPermissions(M, subjects.ANY, subjects.ANY).pub).toEqual([subjects.eventSubject(M, subjects.ANY, subjects.ANY, subjects.ANY), subjects.actorLoadWildcard(M)]);
    expect(subjects.gateCancel(M, subjects.ANY)).toBe(`eaas.v1.${M}.gate.*.cancel`);
  });

  it('never reads a user-given "*" as a wildcard', () => {
    expect(() => subjects.expertDispatch(M, '*')).toThrow(/must not contain/);
  });
});
