import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigValidationError, loadAppConfig } from '../config/app-config';
import { clusterOptions } from './redis-connection';

describe('REDIS_CLUSTER: which cluster the service connects to, and how', () => {
  it('reaches every node it discovers with TLS and the username and password of a rediss:// seed URL', () => {
    const options = clusterOptions(['rediss://pii-api:p%40ss%2Cword@cache-abc.serverless.cac1.cache.amazonaws.com:6379'], 500);
    assert.deepEqual(options.rootNodes, [{ socket: { host: 'cache-abc.serverless.cac1.cache.amazonaws.com', port: 6379 } }]);
    assert.equal(options.defaults.username, 'pii-api');
    assert.equal(options.defaults.password, 'p@ss,word');
    assert.equal(options.defaults.socket.tls, true);
  });

  it('takes several seed nodes, plain redis:// without credentials, IPv6 addresses and the default port', () => {
    const options = clusterOptions(['redis://10.0.0.1:7000', 'redis://[::1]', 'redis://node-3:7002/0'], 500);
    assert.deepEqual(
      options.rootNodes.map((node) => node.socket),
      [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 6379 },
        { host: 'node-3', port: 7002 },
      ],
    );
    assert.equal(options.defaults.socket.tls, false);
    assert.equal('username' in options.defaults, false);
    assert.equal('password' in options.defaults, false);
  });

  it('reads REDIS_URL as comma-separated seed URLs only with REDIS_CLUSTER=true', () => {
    const config = loadAppConfig({ REDIS_URL: 'redis://a:7000,redis://b:7001', REDIS_CLUSTER: 'true' });
    assert.deepEqual(config.cache.redisClusterUrls, ['redis://a:7000', 'redis://b:7001']);
    assert.equal(loadAppConfig({ REDIS_URL: 'redis://a:7000' }).cache.redisClusterUrls, undefined);
  });

  it('refuses to start on a cluster configuration it could not honour, naming the problem', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadAppConfig(env);
      } catch (error) {
        assert.ok(error instanceof ConfigValidationError);
        return error.problems.join('\n');
      }
      assert.fail(`accepted ${JSON.stringify(env)}`);
    };
    assert.match(refused({ REDIS_CLUSTER: 'true' }), /REDIS_CLUSTER: needs REDIS_URL/);
    assert.match(refused({ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7000/2' }), /only database 0/);
    assert.match(refused({ REDIS_CLUSTER: 'true', REDIS_URL: 'rediss://a:7000,redis://b:7001' }), /share one scheme/);
    assert.match(refused({ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://u:p@a:7000,redis://u:q@b:7001' }), /one username and password/);
    assert.match(
      refused({ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7000,http://b' }),
      /comma-separated list of redis:\/\/ or rediss:\/\//,
    );
    assert.match(refused({ REDIS_CLUSTER: 'maybe', REDIS_URL: 'redis://a:7000' }), /REDIS_CLUSTER/);
  });
});
