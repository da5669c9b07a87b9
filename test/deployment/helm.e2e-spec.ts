import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dump, load } from 'js-yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { loadAppConfig, productionWarnings } from '../../src/config/app-config';
import {
  CHART as chart,
  env,
  EVALUATION,
  find,
  helm,
  K8sObject,
  only,
  PRODUCTION_VALUES as productionValues,
  render,
  renderFails,
  renderNotes,
  ROOT,
} from './chart';

/** Every kind the chart renders, with the kubernetes-models class that validates it. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1 Job': Job,
  'networking.k8s.io/v1 Ingress': Ingress,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 ConfigMap': ConfigMap,
  'v1 Service': Service,
  'v1 ServiceAccount': ServiceAccount,
};

let scratch: string;

function valuesFile(name: string, values: unknown): string {
  const path = join(scratch, `${name}.yaml`);
  writeFileSync(path, dump(values));
  return path;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** ServiceMonitor is a Prometheus Operator CRD, outside kubernetes-models: checked by hand. */
function validateServiceMonitor(monitor: K8sObject, objects: K8sObject[]): void {
  assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
  const service = only(objects, 'Service');
  assert.ok(matches(monitor.spec.selector.matchLabels, service.metadata.labels!), 'ServiceMonitor does not select the Service');
  assert.deepEqual(monitor.spec.namespaceSelector, { matchNames: ['pii'] });
  assert.equal(monitor.spec.endpoints.length, 1);
  const [endpoint] = monitor.spec.endpoints;
  assert.ok(
    service.spec.ports.some((port: { name: string }) => port.name === endpoint.port),
    'no Service port of that name',
  );
  assert.equal(endpoint.path, '/metrics');
  for (const field of ['interval', 'scrapeTimeout']) assert.match(endpoint[field], /^\d+(ms|s|m|h)$/);
}

/** cert-manager's Certificate is a CRD too: checked by hand against what the pods mount. */
function validateCertificate(certificate: K8sObject, objects: K8sObject[]): void {
  assert.equal(certificate.apiVersion, 'cert-manager.io/v1');
  const { spec } = certificate;
  assert.ok(spec.issuerRef?.name, 'Certificate without an issuer');
  const service = only(objects, 'Service').metadata.name;
  assert.ok(spec.dnsNames.includes(`${service}.pii.svc`), 'the Service name is not in the certificate');
  const volume = only(objects, 'Deployment').spec.template.spec.volumes.find((v: any) => v.secret);
  assert.equal(volume?.secret.secretName, spec.secretName, 'the pods do not mount the certificate Secret');
}

/** Schema validation of every object, then the policies every workload must carry. */
function validateAll(objects: K8sObject[]): void {
  assert.ok(objects.length > 0);
  for (const object of objects) {
    const label = `${object.kind} ${object.metadata?.name}`;
    assert.ok(object.metadata?.name, `${label}: no name`);
    if (object.kind === 'ServiceMonitor') {
      validateServiceMonitor(object, objects);
      continue;
    }
    if (object.kind === 'Certificate') {
      validateCertificate(object, objects);
      continue;
    }
    const Model = MODELS[`${object.apiVersion} ${object.kind}`];
    assert.ok(Model, `${label}: no schema for ${object.apiVersion} ${object.kind}`);
    try {
      new Model(object).validate();
    } catch (error) {
      assert.fail(`${label} is not a valid ${object.kind}: ${(error as Error).message}`);
    }
  }
  const workloads = [...find(objects, 'Deployment'), ...find(objects, 'Job')];
  for (const workload of workloads) checkPodPolicies(workload);
}

function checkPodPolicies(workload: K8sObject): void {
  const pod = workload.spec.template.spec;
  const label = `${workload.kind} ${workload.metadata.name}`;
  assert.equal(pod.securityContext.runAsNonRoot, true, `${label}: pod runAsNonRoot`);
  assert.ok(pod.securityContext.runAsUser > 0, `${label}: pod runs as root`);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', `${label}: seccomp`);
  assert.equal(pod.automountServiceAccountToken, false, `${label}: service account token mounted`);
  const volumes = new Map<string, any>(pod.volumes.map((volume: any) => [volume.name, volume]));
  const containers = [...(pod.initContainers ?? []), ...pod.containers];
  for (const container of containers) {
    const where = `${label} container ${container.name}`;
    const security = container.securityContext;
    assert.equal(security.runAsNonRoot, true, `${where}: runAsNonRoot`);
    assert.equal(security.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
    assert.equal(security.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
    assert.deepEqual(security.capabilities.drop, ['ALL'], `${where}: capabilities`);
    assert.notEqual(security.privileged, true, `${where}: privileged`);
    assert.ok(container.resources?.requests?.cpu && container.resources?.requests?.memory, `${where}: resource requests`);
    assert.ok(container.resources?.limits?.memory, `${where}: memory limit`);
    assert.match(container.image, /^[^@]+:[A-Za-z0-9_][A-Za-z0-9_.-]*(@sha256:[a-f0-9]{64})?$/, `${where}: image has no explicit tag`);
    assert.doesNotMatch(container.image, /:latest(@|$)/, `${where}: latest tag`);
    const tmp = container.volumeMounts.find((mount: { mountPath: string }) => mount.mountPath === '/tmp');
    assert.ok(tmp && volumes.get(tmp.name)?.emptyDir, `${where}: /tmp is not an emptyDir`);
    const caFile = env(container, 'NODE_EXTRA_CA_CERTS');
    if (caFile) {
      const mount = container.volumeMounts.find((m: { mountPath: string }) => caFile.startsWith(`${m.mountPath}/`));
      const items = volumes.get(mount?.name)?.configMap?.items ?? [];
      assert.ok(
        items.some((item: { path: string }) => `${mount.mountPath}/${item.path}` === caFile),
        `${where}: ${caFile} is not mounted`,
      );
    }
  }
}

/** The NetworkPolicy of the API pods (not the migration Job's). */
function apiPolicy(objects: K8sObject[]): K8sObject {
  const [policy] = find(objects, 'NetworkPolicy').filter((p) => p.spec.podSelector.matchLabels['app.kubernetes.io/component'] === 'api');
  assert.ok(policy, 'no NetworkPolicy for the API pods');
  return policy;
}

function apiContainer(objects: K8sObject[]): any {
  const deployment = only(objects, 'Deployment');
  assert.equal(deployment.spec.template.spec.containers.length, 1);
  return deployment.spec.template.spec.containers[0];
}

// Where Helm cannot run, helm() throws MissingTool here, and every test below is reported as skipped.
before(() => {
  assert.match(helm(['version', '--short']).stdout, /^v3\./, 'the chart tests need Helm 3');
  scratch = mkdtempSync(join(tmpdir(), 'pii-helm-'));
});
after(() => scratch && rmSync(scratch, { recursive: true, force: true }));

const chartSuite = (name: string, body: () => void) => describe(name, body);

chartSuite('Helm chart: lint', () => {
  it('passes helm lint --strict with the default values (and production=false, which has no default)', () => {
    const run = helm(['lint', '--strict', chart, '--set', EVALUATION]);
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });

  it('passes helm lint --strict with the production example', () => {
    const run = helm(['lint', '--strict', chart, '--values', productionValues]);
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });
});

chartSuite('Helm chart: production example', () => {
  let objects: K8sObject[];
  let example: any;
  before(() => {
    objects = render([productionValues]);
    example = load(readFileSync(productionValues, 'utf8'));
  });

  it('renders only objects valid against the Kubernetes schemas, with the pod policies', () => {
    validateAll(objects);
    const kinds = objects.map((object) => object.kind).sort();
    assert.deepEqual(kinds, [
      'Certificate',
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'Ingress',
      'Job',
      'NetworkPolicy',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
  });

  it('probes /health/live at start-up and for liveness, /health/ready for readiness, over HTTPS on port 3000', () => {
    const container = apiContainer(objects);
    assert.equal(container.startupProbe.httpGet.path, '/health/live');
    assert.equal(container.livenessProbe.httpGet.path, '/health/live');
    assert.equal(container.readinessProbe.httpGet.path, '/health/ready');
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      assert.equal(probe.httpGet.port, 'https');
      assert.equal(probe.httpGet.scheme, 'HTTPS');
    }
    assert.deepEqual(container.ports, [
      { name: 'https', containerPort: 3000, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
    assert.deepEqual(container.command, ['node', 'dist/main']);
  });

  it('restarts only a wedged process: liveness waits 10 s per probe and 6 failures; readiness tolerates a slow answer', () => {
    const container = apiContainer(objects);
    assert.deepEqual(
      [container.livenessProbe.timeoutSeconds, container.livenessProbe.periodSeconds, container.livenessProbe.failureThreshold],
      [10, 10, 6],
    );
    // Above the readiness endpoint's own 3 s per-check timeout, so a slow dependency reads as down, not as a probe timeout.
    assert.ok(container.readinessProbe.timeoutSeconds > 3);
    assert.ok(container.readinessProbe.failureThreshold >= 3);
  });

  it('sets probe timeouts a third above the slowest probe answer the benchmark measured at 1,000 connections', () => {
    // bench/results.json: the last full `npm run bench`, which polls /health/live and /health/ready through its 1,000-connection runs.
    const { scenarios } = JSON.parse(readFileSync(join(ROOT, 'bench/results.json'), 'utf8')) as {
      scenarios: Array<{ probes?: { live: { maxMs: number }; ready: { maxMs: number } } }>;
    };
    const measured = scenarios.flatMap((scenario) => (scenario.probes ? [scenario.probes] : []));
    assert.ok(measured.length > 0, 'bench/results.json holds no probe measurement');
    const slowest = (probe: 'live' | 'ready') => Math.max(...measured.map((probes) => probes[probe].maxMs));
    const container = apiContainer(objects);
    assert.ok(container.livenessProbe.timeoutSeconds * 1000 >= slowest('live') * 1.3, `liveness: slowest ${slowest('live')} ms`);
    assert.ok(container.readinessProbe.timeoutSeconds * 1000 >= slowest('ready') * 1.3, `readiness: slowest ${slowest('ready')} ms`);
  });

  it('configures production: NODE_ENV, kms, Cognito, DATA_DIR on the scratch volume, secrets by reference', () => {
    const config = only(objects, 'ConfigMap').data;
    assert.equal(config.NODE_ENV, 'production');
    assert.equal(config.KEY_PROVIDER, 'kms');
    assert.equal(config.KMS_KEY_ID, example.kms.keyId);
    assert.equal(config.AUTH_MODE, 'cognito');
    assert.equal(config.COGNITO_USER_POOL_ID, example.cognito.userPoolId);
    assert.equal(config.COGNITO_CLIENT_IDS, example.cognito.clientIds.join(','));
    assert.equal(config.COGNITO_REGION, example.aws.region);
    assert.equal(config.DATA_DIR, '/tmp/data');
    assert.equal(config.PORT, '3000');
    assert.equal(config.AUDIT_RETENTION_CRON, '30 4 * * *');
    for (const value of Object.values(config)) assert.equal(typeof value, 'string');
    for (const secret of ['DATABASE_URL', 'REDIS_URL']) assert.ok(!(secret in config), `${secret} in the ConfigMap`);

    const container = apiContainer(objects);
    assert.equal(env(container, 'AWS_REGION'), example.aws.region);
    assert.deepEqual(container.envFrom, [{ configMapRef: { name: only(objects, 'ConfigMap').metadata.name } }]);
    for (const [name, key] of [
      ['DATABASE_URL', 'DATABASE_URL'],
      ['REDIS_URL', 'REDIS_URL'],
    ]) {
      const reference = container.env.find((variable: { name: string }) => variable.name === name);
      assert.deepEqual(reference.valueFrom, { secretKeyRef: { name: example.existingSecret, key } });
    }
  });

  it('drops nothing on a rollout: 5 s native preStop sleep, then 20 s serving with Connection: close, 45 s grace, a 30 s ALB deregistration delay within them', () => {
    const pod = only(objects, 'Deployment').spec.template.spec;
    const { preStop } = pod.containers[0].lifecycle;
    // Kubernetes >= 1.30 (Helm's default here): the kubelet's own sleep, no process in the container.
    assert.deepEqual(preStop, { sleep: { seconds: 5 } });
    assert.equal(pod.terminationGracePeriodSeconds, 45);
    const { SHUTDOWN_DELAY_MS, SHUTDOWN_GRACE_MS } = only(objects, 'ConfigMap').data;
    assert.deepEqual([Number(SHUTDOWN_DELAY_MS), Number(SHUTDOWN_GRACE_MS)], [20_000, 10_000]);
    const shutdownMs = Number(SHUTDOWN_DELAY_MS) + Number(SHUTDOWN_GRACE_MS);
    assert.ok(pod.terminationGracePeriodSeconds * 1000 > preStop.sleep.seconds * 1000 + shutdownMs);
    const annotations = only(objects, 'Ingress').metadata.annotations!;
    assert.equal(annotations['alb.ingress.kubernetes.io/target-type'], 'ip');
    assert.equal(annotations['alb.ingress.kubernetes.io/target-group-attributes'], 'deregistration_delay.timeout_seconds=30');
    // The ALB stops sending before the pod stops serving; it waits for connections no longer than the pod drains them.
    assert.ok(30 <= preStop.sleep.seconds + shutdownMs / 1000);
  });

  it('spreads replicas over three zones, refusing to stack a zone, per rollout revision; the HPA never goes below 3', () => {
    const deployment = only(objects, 'Deployment');
    const pod = deployment.spec.template;
    const zone = pod.spec.topologySpreadConstraints.find((c: any) => c.topologyKey === 'topology.kubernetes.io/zone');
    assert.ok(zone, 'no zone spread');
    assert.ok(matches(zone.labelSelector.matchLabels, pod.metadata.labels));
    assert.equal(zone.whenUnsatisfiable, 'DoNotSchedule');
    assert.equal(zone.minDomains, 3);
    assert.deepEqual(zone.matchLabelKeys, ['pod-template-hash']);
    assert.equal(deployment.spec.replicas, undefined);
    assert.equal(only(objects, 'HorizontalPodAutoscaler').spec.minReplicas, 3);
    assert.equal(example.replicaCount, 3, 'the replica count without the HPA');
    assert.ok(matches(deployment.spec.selector.matchLabels, pod.metadata.labels));
  });

  it('autoscales with autoscaling/v2 on 70 % CPU between 3 and 9 replicas, scaling down one pod a minute after 5 quiet minutes', () => {
    const hpa = only(objects, 'HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: only(objects, 'Deployment').metadata.name,
    });
    assert.equal(hpa.spec.minReplicas, 3);
    assert.equal(hpa.spec.maxReplicas, 9);
    assert.deepEqual(hpa.spec.metrics, [
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
    ]);
    assert.equal(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
    assert.deepEqual(hpa.spec.behavior.scaleDown.policies, [{ type: 'Pods', value: 1, periodSeconds: 60 }]);
  });

  it('selects the API pods from the Service, PodDisruptionBudget and NetworkPolicy', () => {
    const podLabels = only(objects, 'Deployment').spec.template.metadata.labels;
    const service = only(objects, 'Service');
    assert.ok(matches(service.spec.selector, podLabels));
    assert.equal(service.spec.ports[0].targetPort, 'https');
    const pdb = only(objects, 'PodDisruptionBudget');
    assert.ok(matches(pdb.spec.selector.matchLabels, podLabels));
    assert.equal(pdb.spec.maxUnavailable, 1);
    // A crash-looping pod never blocks a node drain.
    assert.equal(pdb.spec.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    const policy = apiPolicy(objects);
    assert.ok(matches(policy.spec.podSelector.matchLabels, podLabels));
    assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(policy.spec.ingress[0].ports, [{ port: 'https', protocol: 'TCP' }]);
    assert.deepEqual(policy.spec.ingress[0].from, example.networkPolicy.ingressFrom);
  });

  it('lets only the ALB subnets and the callers reach the API port, and only Prometheus reach /metrics on its own port', () => {
    const policy = apiPolicy(objects);
    const apiFrom = policy.spec.ingress[0].from;
    assert.ok(apiFrom.length > 0);
    const cidrs = apiFrom.filter((peer: any) => peer.ipBlock).map((peer: any) => peer.ipBlock.cidr);
    assert.ok(cidrs.length > 0 && cidrs.every((cidr: string) => /\/2[0-9]$/.test(cidr)), `ALB subnets, not the VPC: ${cidrs}`);
    const metricsRule = policy.spec.ingress.find((rule: any) => rule.ports.some((port: any) => port.port === 'metrics'));
    assert.deepEqual(metricsRule.from, example.networkPolicy.metricsFrom);
    assert.equal(only(objects, 'ConfigMap').data.METRICS_PORT, '9090');
    assert.ok(only(objects, 'Service').spec.ports.some((port: any) => port.name === 'metrics' && port.targetPort === 'metrics'));
    assert.equal(only(objects, 'ServiceMonitor').spec.endpoints[0].port, 'metrics');
  });

  it('sends HTTPS only to the listed CIDRs: every egress rule on 443 names its destinations', () => {
    const rules = apiPolicy(objects).spec.egress;
    const https = rules.filter((rule: any) => !rule.ports || rule.ports.some((port: any) => port.port === 443));
    assert.ok(https.length > 0, 'no HTTPS egress at all: KMS and STS are unreachable');
    for (const rule of https) {
      assert.ok(rule.ports, 'an egress rule without ports opens every port, 443 included');
      assert.ok(rule.to?.length > 0, 'HTTPS to anywhere');
      for (const peer of rule.to)
        assert.match(peer.ipBlock?.cidr ?? '', /^10\./, `443 to a peer that is not a VPC CIDR: ${JSON.stringify(peer)}`);
    }
    for (const rule of rules) assert.ok(rule.ports?.length > 0, `an egress rule without ports: ${JSON.stringify(rule)}`);
  });

  it('opens the OTLP port derived from OTEL_EXPORTER_OTLP_ENDPOINT, to the collector only', () => {
    assert.equal(example.config.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://adot-collector.observability:4318');
    const otlp = apiPolicy(objects).spec.egress.find((rule: any) => rule.ports.some((port: any) => port.port === 4318));
    assert.ok(otlp, 'no egress to the collector port');
    assert.deepEqual(otlp.to, example.networkPolicy.egress.otlpTo);
  });

  it('confines the migration Job: a NetworkPolicy created before it lets it reach only DNS and PostgreSQL', () => {
    const policies = find(objects, 'NetworkPolicy').filter((policy) => policy !== apiPolicy(objects));
    assert.equal(policies.length, 1);
    const [policy] = policies;
    const job = only(objects, 'Job');
    assert.ok(matches(policy.spec.podSelector.matchLabels, job.spec.template.metadata.labels), 'does not select the Job');
    assert.ok(!matches(policy.spec.podSelector.matchLabels, only(objects, 'Deployment').spec.template.metadata.labels));
    assert.ok(Number(policy.metadata.annotations!['helm.sh/hook-weight']) < Number(job.metadata.annotations!['helm.sh/hook-weight']));
    assert.equal(policy.metadata.annotations!['helm.sh/hook'], job.metadata.annotations!['helm.sh/hook']);
    assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress']);
    assert.equal(policy.spec.ingress, undefined, 'no inbound traffic');
    const ports = policy.spec.egress.flatMap((rule: any) => rule.ports.map((port: any) => port.port)).sort();
    assert.deepEqual(ports, [53, 53, 5432]);
    const database = policy.spec.egress.find((rule: any) => rule.ports.some((port: any) => port.port === 5432));
    assert.deepEqual(database.to, example.networkPolicy.egress.databaseTo);
  });

  it('rolls the pods when the connections Secret, the TLS Secret or the RDS CA bundle changes (Reloader annotations)', () => {
    const annotations = only(objects, 'Deployment').metadata.annotations!;
    const tlsSecret = only(objects, 'Certificate').spec.secretName;
    assert.deepEqual(annotations['secret.reloader.stakater.com/reload'].split(','), [example.existingSecret, tlsSecret]);
    assert.equal(annotations['configmap.reloader.stakater.com/reload'], example.extraCaBundle.configMap);
  });

  it('serves HTTPS to the ALB: a cert-manager certificate mounted as TLS_CERT_FILE/TLS_KEY_FILE, HTTPS backend, pinned TLS 1.3 policy', () => {
    const config = only(objects, 'ConfigMap').data;
    assert.equal(config.TLS_CERT_FILE, '/etc/pii-encryption-api/tls/tls.crt');
    assert.equal(config.TLS_KEY_FILE, '/etc/pii-encryption-api/tls/tls.key');
    assert.equal(config.ALLOW_PLAIN_HTTP, undefined);
    const mount = apiContainer(objects).volumeMounts.find((m: any) => m.name === 'tls');
    assert.equal(mount.mountPath, '/etc/pii-encryption-api/tls');
    assert.equal(mount.readOnly, true);
    const certificate = only(objects, 'Certificate');
    assert.deepEqual(certificate.spec.issuerRef, example.tls.certManager.issuerRef);
    const annotations = only(objects, 'Ingress').metadata.annotations!;
    assert.equal(annotations['alb.ingress.kubernetes.io/backend-protocol'], 'HTTPS');
    assert.equal(annotations['alb.ingress.kubernetes.io/healthcheck-protocol'], 'HTTPS');
    assert.equal(annotations['alb.ingress.kubernetes.io/ssl-policy'], 'ELBSecurityPolicy-TLS13-1-2-2021-06');
  });

  it('reserves the memory it may use (requests equal limits), with a priority class', () => {
    for (const container of [apiContainer(objects), only(objects, 'Job').spec.template.spec.containers[0]]) {
      assert.equal(container.resources.requests.memory, container.resources.limits.memory, container.name);
    }
    assert.equal(only(objects, 'Deployment').spec.template.spec.priorityClassName, example.priorityClassName);
  });

  it('annotates the service account for IRSA from the values, and the pods use it', () => {
    const account = only(objects, 'ServiceAccount');
    assert.equal(account.metadata.annotations?.['eks.amazonaws.com/role-arn'], example.serviceAccount.irsaRoleArn);
    assert.equal(only(objects, 'Deployment').spec.template.spec.serviceAccountName, account.metadata.name);
  });

  it('migrates in a pre-install/pre-upgrade Job with the same image and settings, and the replicas do not', () => {
    const job = only(objects, 'Job');
    const annotations = job.metadata.annotations!;
    assert.deepEqual(annotations['helm.sh/hook'].split(',').sort(), ['pre-install', 'pre-upgrade']);
    assert.match(annotations['helm.sh/hook-delete-policy'], /before-hook-creation/);
    const migrate = job.spec.template.spec.containers[0];
    const api = apiContainer(objects);
    assert.deepEqual(migrate.command, ['node', 'dist/cli/migrate.js']);
    assert.equal(migrate.image, api.image);
    assert.equal(env(migrate, 'MIGRATIONS_RUN'), 'true');
    assert.equal(env(api, 'MIGRATIONS_RUN'), 'false');
    assert.equal(job.spec.template.spec.restartPolicy, 'Never');
    // A hook runs before the ConfigMap exists, so the Job carries the same settings inline.
    for (const [name, value] of Object.entries(only(objects, 'ConfigMap').data)) {
      assert.equal(env(migrate, name), value, `Job env ${name}`);
    }
    const secretRefs = (container: any) => container.env.filter((v: any) => v.valueFrom).map((v: any) => v);
    assert.deepEqual(secretRefs(migrate), secretRefs(api));
  });

  it('routes the Ingress to the Service port and exposes only /api', () => {
    const ingress = only(objects, 'Ingress');
    const service = only(objects, 'Service');
    const paths = ingress.spec.rules.flatMap((rule: any) => rule.http.paths);
    assert.deepEqual(
      paths.map((path: any) => path.path),
      ['/api'],
    );
    for (const path of paths) assert.deepEqual(path.backend.service, { name: service.metadata.name, port: { name: 'https' } });
  });

  it('mounts the CA bundle that NODE_EXTRA_CA_CERTS names, in the service and the migration Job', () => {
    for (const container of [apiContainer(objects), only(objects, 'Job').spec.template.spec.containers[0]]) {
      assert.equal(env(container, 'NODE_EXTRA_CA_CERTS'), `/etc/pii-encryption-api/ca/${example.extraCaBundle.key}`);
    }
  });

  it('pins the image to the example tag', () => {
    assert.equal(apiContainer(objects).image, `${example.image.repository}:${example.image.tag}`);
  });
});

chartSuite('Helm chart: default values (evaluation mode)', () => {
  let objects: K8sObject[];
  before(() => {
    objects = render([], [EVALUATION]);
  });

  it('renders valid objects with the pod policies', () => {
    validateAll(objects);
    assert.deepEqual(objects.map((object) => object.kind).sort(), [
      'ConfigMap',
      'Deployment',
      'NetworkPolicy',
      'Service',
      'ServiceAccount',
    ]);
  });

  it('runs one development replica that migrates its embedded database itself', () => {
    const deployment = only(objects, 'Deployment');
    assert.equal(deployment.spec.replicas, 1);
    const config = only(objects, 'ConfigMap').data;
    assert.equal(config.NODE_ENV, 'development');
    assert.equal(config.KEY_PROVIDER, 'local');
    assert.equal(config.AUTH_MODE, 'local');
    assert.equal(env(apiContainer(objects), 'MIGRATIONS_RUN'), 'true');
    assert.equal(apiContainer(objects).readinessProbe.httpGet.path, '/health/ready');
  });

  it('tags the image with the chart appVersion, never latest', () => {
    const chartYaml = load(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    assert.equal(apiContainer(objects).image, `pii-encryption-api:${chartYaml.appVersion}`);
  });

  it('renders the IRSA annotation from serviceAccount.irsaRoleArn, and none without it', () => {
    assert.equal(only(objects, 'ServiceAccount').metadata.annotations, undefined);
    const arn = 'arn:aws:iam::210987654321:role/other-role';
    const withRole = render([], [EVALUATION, `serviceAccount.irsaRoleArn=${arn}`]);
    assert.equal(only(withRole, 'ServiceAccount').metadata.annotations?.['eks.amazonaws.com/role-arn'], arn);
  });

  it('pins by digest when image.digest is set', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const image = apiContainer(render([], [EVALUATION, `image.digest=${digest}`])).image;
    assert.equal(image, `pii-encryption-api:0.1.0@${digest}`);
  });

  it('writes large integers from values files without an exponent', () => {
    const file = valuesFile('big-number', { production: false, config: { RATE_LIMIT_PER_MINUTE: 1000000 } });
    assert.equal(only(render([file]), 'ConfigMap').data.RATE_LIMIT_PER_MINUTE, '1000000');
  });

  it('opens no OTLP port without tracing, and the EKS Pod Identity agent only when asked', () => {
    const untraced = load(readFileSync(productionValues, 'utf8')) as { config: Record<string, unknown> };
    delete untraced.config.OTEL_EXPORTER_OTLP_ENDPOINT;
    const egress = apiPolicy(render([valuesFile('untraced', untraced)])).spec.egress;
    const ports = egress.flatMap((rule: any) => rule.ports.map((port: any) => port.port));
    assert.ok(!ports.includes(4318) && !ports.includes(4317), `ports ${ports}`);
    assert.ok(!ports.includes(80));
    const grpc = apiPolicy(render([productionValues], ['config.OTEL_EXPORTER_OTLP_ENDPOINT=https://collector.example.com:4317']));
    assert.ok(grpc.spec.egress.some((rule: any) => rule.ports.some((port: any) => port.port === 4317)));
    const podIdentity = apiPolicy(render([productionValues], ['networkPolicy.egress.podIdentity=true'])).spec.egress.find((rule: any) =>
      rule.ports.some((port: any) => port.port === 80),
    );
    assert.deepEqual(
      podIdentity.to.map((peer: any) => peer.ipBlock.cidr),
      ['169.254.170.23/32', 'fd00:ec2::23/128'],
    );
  });

  it('falls back to an exec sleep before Kubernetes 1.30, and leaves out matchLabelKeys before 1.27', () => {
    const older = render([productionValues], [], { kubeVersion: '1.29.6' });
    const pod = only(older, 'Deployment').spec.template.spec;
    assert.deepEqual(pod.containers[0].lifecycle.preStop, { exec: { command: ['sleep', '5'] } });
    const zone = (objects: K8sObject[]) =>
      only(objects, 'Deployment').spec.template.spec.topologySpreadConstraints.find(
        (c: any) => c.topologyKey === 'topology.kubernetes.io/zone',
      );
    assert.deepEqual(zone(older).matchLabelKeys, ['pod-template-hash']);
    assert.equal(zone(render([productionValues], [], { kubeVersion: '1.26.0' })).matchLabelKeys, undefined);
  });

  it('honours autoscaling off in production with replicaCount', () => {
    const file = valuesFile('fixed-replicas', { autoscaling: { enabled: false }, replicaCount: 3 });
    const rendered = render([productionValues, file]);
    assert.equal(only(rendered, 'Deployment').spec.replicas, 3);
    assert.equal(find(rendered, 'HorizontalPodAutoscaler').length, 0);
  });
});

chartSuite('Helm chart: values that must be refused', () => {
  const schemaCases: [string, unknown, RegExp][] = [
    ['replicaCount below 1', { replicaCount: 0 }, /replicaCount/],
    ['replicaCount of the wrong type', { replicaCount: 'two' }, /replicaCount/],
    ['minReplicas below 1', { autoscaling: { minReplicas: 0 } }, /minReplicas/],
    ['maxReplicas of the wrong type', { autoscaling: { maxReplicas: '6' } }, /maxReplicas/],
    ['the latest image tag', { image: { tag: 'latest' } }, /image\.tag/],
    ['an unknown top-level value (typo)', { replicas: 3 }, /replicas/],
    ['an unknown log level', { config: { LOG_LEVEL: 'loud' } }, /LOG_LEVEL/],
    ['an audit retention schedule that is not a cron expression', { config: { AUDIT_RETENTION_CRON: 'daily' } }, /AUDIT_RETENTION_CRON/],
    ['a variable the chart sets itself', { config: { NODE_ENV: 'development' } }, /NODE_ENV/],
    ['a malformed IRSA role ARN', { serviceAccount: { irsaRoleArn: 'my-role' } }, /irsaRoleArn/],
    ['containers without a memory limit', { resources: { limits: { memory: null } } }, /memory/],
    [
      'production without a KMS key id',
      {
        production: true,
        aws: { region: 'ca-central-1' },
        cognito: { userPoolId: 'ca-central-1_Ab1', clientIds: ['c1'] },
        existingSecret: 's',
      },
      /kms\.keyId/,
    ],
  ];
  for (const [name, values, message] of schemaCases) {
    it(`refuses ${name} through values.schema.json`, () => {
      const stderr = renderFails([valuesFile(name.replace(/\W+/g, '-'), { production: false, ...(values as object) })]);
      assert.match(stderr, /schema/);
      assert.match(stderr, message);
    });
  }

  it('refuses the production example with its KMS key id removed', () => {
    const stderr = renderFails([productionValues, valuesFile('no-kms', { kms: { keyId: '' } })]);
    assert.match(stderr, /kms\.keyId/);
  });

  it('refuses the production example trusting every proxy (TRUST_PROXY=true): a client could name its own IP', () => {
    for (const everyone of [true, 'true']) {
      const stderr = renderFails([productionValues, valuesFile('trust-everyone', { config: { TRUST_PROXY: everyone } })]);
      assert.match(stderr, /TRUST_PROXY/);
    }
  });

  it('refuses maxReplicas below minReplicas', () => {
    const stderr = renderFails([valuesFile('max-below-min', { production: false, autoscaling: { minReplicas: 4, maxReplicas: 3 } })]);
    assert.match(stderr, /maxReplicas must be at least/);
  });

  it('refuses a termination grace period that does not cover the shutdown grace', () => {
    const stderr = renderFails([
      valuesFile('short-grace', { production: false, terminationGracePeriodSeconds: 12, config: { SHUTDOWN_GRACE_MS: 10000 } }),
    ]);
    assert.match(stderr, /terminationGracePeriodSeconds/);
  });

  it('refuses a release that does not say whether it is production: production has no default', () => {
    assert.match(renderFails([]), /production is required/);
    const { production: _none, ...rest } = load(readFileSync(productionValues, 'utf8')) as Record<string, unknown>;
    assert.match(renderFails([valuesFile('production-forgotten', rest)]), /production is required/);
  });

  it('refuses production without the network policy peers: who may reach the API, where HTTPS may go', () => {
    assert.match(renderFails([productionValues, valuesFile('no-ingress-peers', { networkPolicy: { ingressFrom: [] } })]), /ingressFrom/);
    assert.match(renderFails([productionValues, valuesFile('no-https-peers', { networkPolicy: { egress: { httpsTo: [] } } })]), /httpsTo/);
    assert.match(
      renderFails([productionValues, valuesFile('no-scraper', { networkPolicy: { metricsFrom: [] } })]),
      /networkPolicy\.metricsFrom/,
    );
    assert.match(
      renderFails([productionValues, valuesFile('no-collector-peers', { networkPolicy: { egress: { otlpTo: [] } } })]),
      /networkPolicy\.egress\.otlpTo: name the OTLP collector/,
    );
  });

  it('refuses production on plain HTTP unless ALLOW_PLAIN_HTTP says a mesh encrypts the hop, and TLS without an issuer', () => {
    assert.match(renderFails([productionValues], ['tls.enabled=false']), /tls\.enabled/);
    assert.match(renderFails([productionValues], ['tls.certManager.issuerRef.name=']), /issuerRef\.name/);
    const meshed = render([productionValues], ['tls.enabled=false', 'config.ALLOW_PLAIN_HTTP=true']);
    assert.equal(only(meshed, 'ConfigMap').data.ALLOW_PLAIN_HTTP, 'true');
    assert.equal(only(meshed, 'ConfigMap').data.TLS_CERT_FILE, undefined);
    assert.equal(find(meshed, 'Certificate').length, 0);
    assert.equal(apiContainer(meshed).readinessProbe.httpGet.scheme, 'HTTP');
    assert.equal(apiContainer(meshed).readinessProbe.httpGet.port, 'http');
  });
});

const SECRET_STAND_INS: Record<string, string> = {
  DATABASE_URL: 'postgres://pii:secret@keys-db.internal:5432/keys',
  DATABASE_REPLICA_URLS: 'postgres://pii:secret@keys-db-ro.internal:5432/keys',
  REDIS_URL: 'rediss://cache.internal:6379',
};

/** What the API container sees: the ConfigMap, its own env, and stand-ins for the Secret. */
function containerEnvironment(objects: K8sObject[]): Record<string, string> {
  const environment: Record<string, string> = { ...only(objects, 'ConfigMap').data };
  for (const variable of apiContainer(objects).env) {
    environment[variable.name] = variable.valueFrom ? SECRET_STAND_INS[variable.name] : variable.value;
  }
  return environment;
}

chartSuite('Helm chart: settings the service accepts', () => {
  it("renders settings that pass the service's own configuration validation, in both modes", () => {
    const production = loadAppConfig(containerEnvironment(render([productionValues])));
    assert.equal(production.isProduction, true);
    assert.equal(production.keys.provider, 'kms');
    assert.equal(production.auth.mode, 'cognito');
    assert.equal(production.database.migrationsRun, false);
    assert.equal(production.dataDir, '/tmp/data');
    assert.equal(production.http.trustProxy, 1, 'one proxy hop, the ALB: the client IP is the entry it appends to X-Forwarded-For');
    assert.deepEqual(productionWarnings(production), [], 'no unsafe setting warned about at start-up');
    const evaluation = loadAppConfig(containerEnvironment(render([], [EVALUATION])));
    assert.equal(evaluation.isProduction, false);
    assert.equal(evaluation.keys.provider, 'local');
    assert.equal(evaluation.database.migrationsRun, true);
  });

  it('can set every variable of .env.example: by the chart, from the Secret, or under config', () => {
    const chartManaged = [
      'NODE_ENV',
      'PORT',
      'DATA_DIR',
      'KEY_PROVIDER',
      'AUTH_MODE',
      'MIGRATIONS_RUN',
      'KMS_KEY_ID',
      'AWS_REGION',
      'COGNITO_REGION',
      'COGNITO_USER_POOL_ID',
      'COGNITO_CLIENT_IDS',
      'AUTH_USER_ID_CLAIM',
      'AUTH_BOUND_CLIENT_IDS',
      'AUTH_SCOPE_PREFIX',
      'AUTH_GROUP_PERMISSIONS',
      'METRICS_PORT',
      'TLS_CERT_FILE',
      'TLS_KEY_FILE',
    ];
    const fromSecret = ['DATABASE_URL', 'REDIS_URL', 'DATABASE_REPLICA_URLS'];
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8'));
    const underConfig = Object.keys(schema.properties.config.properties);
    const variables = [...readFileSync(join(ROOT, '.env.example'), 'utf8').matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]);
    assert.ok(variables.length > 20);
    const unsupported = variables.filter((name) => ![...chartManaged, ...fromSecret, ...underConfig].includes(name));
    assert.deepEqual(unsupported, [], 'add these to values.schema.json (config) and the chart README');
    for (const name of chartManaged) assert.ok(!underConfig.includes(name), `${name} is set by the chart; config must not accept it`);
  });
});

chartSuite('Helm chart: what the operator is told', () => {
  const readme = () => readFileSync(join(chart, 'README.md'), 'utf8');
  const operations = () => readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');

  it('tells to label the namespace for the ALB pod readiness gate: chart README, operations guide, install notes', () => {
    const label = 'elbv2.k8s.aws/pod-readiness-gate-inject';
    assert.match(readme(), new RegExp(`${label}=enabled`));
    assert.match(operations(), new RegExp(`${label}=enabled`));
    assert.match(readFileSync(productionValues, 'utf8'), new RegExp(`${label}=enabled`));
    const notes = renderNotes([productionValues]);
    assert.match(notes, new RegExp(`kubectl label namespace pii ${label}=enabled`));
    // No ALB with target-type ip, no readiness gate to ask for.
    assert.doesNotMatch(renderNotes([], [EVALUATION]), new RegExp(label));
  });

  it('tells to enforce the restricted Pod Security Standard on the namespace', () => {
    const label = 'pod-security.kubernetes.io/enforce=restricted';
    for (const text of [readme(), operations(), renderNotes([productionValues])]) assert.ok(text.includes(label));
  });

  it('documents the secret rotation procedure, and the probe values with the measurement they come from', () => {
    const text = operations();
    assert.match(text, /secret\.reloader\.stakater\.com\/reload/);
    assert.match(text, /dual-user|two database users/i);
    assert.doesNotMatch(text, /probe settings are \*\*provisional/i);
    assert.match(text, /The probe settings come from `npm run bench`/);
  });
});

chartSuite('Helm chart: README', () => {
  it('documents every value the schema accepts', () => {
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8'));
    const readme = readFileSync(join(chart, 'README.md'), 'utf8');
    const paths: string[] = [];
    const walk = (node: any, prefix: string) => {
      for (const [key, child] of Object.entries<any>(node.properties ?? {})) {
        const path = prefix ? `${prefix}.${key}` : key;
        if (child.properties && !child.$ref) walk(child, path);
        else paths.push(path);
      }
    };
    walk(schema, '');
    const missing = paths.filter((path) => path !== 'global' && !readme.includes(`\`${path}\``));
    assert.deepEqual(missing, []);
  });
});
