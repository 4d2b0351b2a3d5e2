import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveDaemonConfig, resolveProviderLimits, resolveShimConfig } from '../../src/config.ts';
import { hasCode } from '../../src/errors.ts';

describe('configuration', () => {
  test('a flag wins over the environment, which wins over the default', () => {
    const env = { EXAI_MAX_INFLIGHT: '3', EXAI_WS_HOST: '127.0.0.2', EXAI_CALL_TIMEOUT: '20' };

    const fromEnv = resolveDaemonConfig({}, env);
    const fromFlag = resolveDaemonConfig({ maxInflight: '7' }, env);
    const defaults = resolveDaemonConfig({}, {});

    assert.equal(fromEnv.maxInflight, 3);
    assert.equal(fromEnv.host, '127.0.0.2');
    assert.equal(fromEnv.callTimeoutMs, 20_000);
    assert.equal(fromFlag.maxInflight, 7);
    assert.equal(defaults.maxInflight, 10);
    assert.equal(defaults.port, 8079);
    assert.equal(defaults.isPortExplicit, false);
    assert.equal(defaults.queueTimeoutMs, 0);
    assert.equal(defaults.host, '127.0.0.1');
  });

  test('provider bounds come from EXAI_<NAME>_MAX_INFLIGHT and flags override them', () => {
    const limits = resolveProviderLimits(['kimi=1'], { EXAI_KIMI_MAX_INFLIGHT: '4', EXAI_GLM_MAX_INFLIGHT: '2' });

    assert.deepEqual(limits, { kimi: 1, glm: 2 });
  });

  test('a bad value is a CONFIG_INVALID error that names the setting and what it expects', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => resolveDaemonConfig({ maxInflight: '0' }, {}), /--max-inflight "0": expected a whole number from 1/],
      [() => resolveDaemonConfig({ port: 'http' }, {}), /--port "http"/],
      [() => resolveDaemonConfig({ providerMaxInflight: ['kimi'] }, {}), /NAME=N, e.g. kimi=2/],
      [() => resolveDaemonConfig({ callTimeout: '-1' }, {}), /--call-timeout "-1"/],
      [() => resolveDaemonConfig({ logLevel: 'loud' }, {}), /--log-level "loud"/],
    ];
    for (const [resolve, message] of cases) {
      assert.throws(resolve, (err) => hasCode(err, 'CONFIG_INVALID') && message.test((err as Error).message));
    }
  });

  test('the shim reads its name and autostart switch from flags or the environment', () => {
    assert.equal(resolveShimConfig({}, { EXAI_SESSION_NAME: 'left-window' }).name, 'left-window');
    assert.equal(resolveShimConfig({}, {}).isAutostartOn, true);
    assert.equal(resolveShimConfig({}, { EXAI_NO_AUTOSTART: '1' }).isAutostartOn, false);
    assert.equal(resolveShimConfig({ noAutostart: true }, {}).isAutostartOn, false);
  });
});
