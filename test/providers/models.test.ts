import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExaiError } from '../../src/errors.ts';
import { PROVIDERS, providerAccess } from '../../src/providers/catalog.ts';
import { AUTO_PREFERENCE, ModelRegistry } from '../../src/providers/models.ts';

function rejection(run: () => unknown): ExaiError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ExaiError, `expected an ExaiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('provider catalog', () => {
  it('lists the five providers of the product table in order', () => {
    assert.deepEqual(
      PROVIDERS.map((spec) => spec.name),
      ['kimi', 'glm', 'openai', 'openrouter', 'custom'],
    );
  });

  it('takes the first key found in the documented order', () => {
    const access = providerAccess('kimi', { MOONSHOT_API_KEY: 'second', KIMI_API_KEY: 'first' });
    assert.equal(access.apiKey, 'first');
    assert.equal(access.isConfigured, true);
    assert.equal(access.baseUrl, 'https://api.moonshot.ai/v1');
  });

  it('falls back to the second key variable and ignores blank values', () => {
    const access = providerAccess('glm', { GLM_API_KEY: '  ', ZHIPUAI_API_KEY: 'zk\n' });
    assert.equal(access.apiKey, 'zk');
    assert.equal(access.baseUrl, 'https://api.z.ai/api/paas/v4');
  });

  it('honours the base URL variable without a trailing slash', () => {
    const access = providerAccess('openai', { OPENAI_BASE_URL: 'http://proxy.local/v1/' });
    assert.equal(access.baseUrl, 'http://proxy.local/v1');
    assert.equal(access.isConfigured, false);
  });

  it('counts the custom provider as configured by its URL alone', () => {
    assert.equal(providerAccess('custom', {}).isConfigured, false);
    assert.equal(providerAccess('custom', {}).baseUrl, 'http://localhost:11434/v1');
    const access = providerAccess('custom', { CUSTOM_API_URL: 'http://127.0.0.1:8000/v1' });
    assert.equal(access.isConfigured, true);
    assert.equal(access.apiKey, undefined);
  });
});

describe('model registry', () => {
  it('knows the models the product promises', () => {
    const names = new ModelRegistry({}).list().map((model) => model.name);
    for (const name of [
      'kimi-k2-0905-preview',
      'kimi-k2-turbo-preview',
      'moonshot-v1-128k',
      'glm-4.6',
      'glm-4.5',
      'glm-4.5-air',
      'glm-4.5-flash',
    ]) {
      assert.ok(names.includes(name), name);
    }
  });

  it('lists only known names in the auto preference, kimi first', () => {
    const names = new Set(new ModelRegistry({}).list().map((model) => model.name));
    assert.equal(AUTO_PREFERENCE[0], 'kimi-k2-0905-preview');
    for (const name of AUTO_PREFERENCE) assert.ok(names.has(name), name);
  });

  it('resolves names and aliases case-insensitively', () => {
    const registry = new ModelRegistry({ KIMI_API_KEY: 'k', GLM_API_KEY: 'g' });
    assert.equal(registry.resolve('GLM-4.5-Air').name, 'glm-4.5-air');
    assert.equal(registry.resolve('Kimi').name, 'kimi-k2-0905-preview');
    assert.equal(registry.resolve(' glm ').name, 'glm-4.6');
  });

  it('picks the first preferred model whose provider is configured for auto', () => {
    const kimi = new ModelRegistry({ KIMI_API_KEY: 'k' });
    assert.equal(kimi.resolve(undefined).name, 'kimi-k2-0905-preview');
    assert.equal(new ModelRegistry({ GLM_API_KEY: 'g' }).resolve('auto').name, 'glm-4.6');
    assert.equal(new ModelRegistry({ OPENAI_API_KEY: 'o' }).resolve('').name, 'gpt-4.1');
    const env = { OPENROUTER_API_KEY: 'r', GLM_API_KEY: 'g', KIMI_API_KEY: 'k' };
    const many = new ModelRegistry(env);
    assert.equal(many.resolve(undefined).name, 'kimi-k2-0905-preview');
  });

  it('honours DEFAULT_MODEL when a call names no model', () => {
    const registry = new ModelRegistry({ KIMI_API_KEY: 'k', DEFAULT_MODEL: 'kimi-turbo' });
    assert.equal(registry.resolve(undefined).name, 'kimi-k2-turbo-preview');
    assert.equal(registry.resolve('moonshot-v1-128k').name, 'moonshot-v1-128k');
  });

  it('treats DEFAULT_MODEL=auto like no default', () => {
    const registry = new ModelRegistry({ GLM_API_KEY: 'g', DEFAULT_MODEL: 'AUTO' });
    assert.equal(registry.resolve(undefined).name, 'glm-4.6');
  });

  it('rejects an unknown model and lists known names', () => {
    const err = rejection(() => new ModelRegistry({ KIMI_API_KEY: 'k' }).resolve('gpt-9'));
    assert.equal(err.code, 'UNKNOWN_MODEL');
    assert.match(err.message, /^Cannot use model "gpt-9": it is not known \(known: /);
    assert.match(err.message, /kimi-k2-0905-preview/);
    assert.equal(err.facts['model'], 'gpt-9');
  });

  it('says an unknown DEFAULT_MODEL came from that variable', () => {
    const err = rejection(() => new ModelRegistry({ DEFAULT_MODEL: 'nope' }).resolve(undefined));
    assert.equal(err.code, 'UNKNOWN_MODEL');
    assert.match(err.message, /"nope" \(DEFAULT_MODEL\)/);
  });

  it('names the variable to set when the provider of a model has no key', () => {
    const err = rejection(() => new ModelRegistry({ KIMI_API_KEY: 'k' }).resolve('glm-4.6'));
    assert.equal(err.code, 'NO_API_KEY');
    assert.equal(err.message, 'Cannot use model "glm-4.6": provider glm has no key (set GLM_API_KEY)');
    assert.equal(err.facts['variable'], 'GLM_API_KEY');
  });

  it('names every setup variable when no provider is configured for auto', () => {
    const err = rejection(() => new ModelRegistry({}).resolve(undefined));
    assert.equal(err.code, 'NO_API_KEY');
    assert.equal(
      err.message,
      'Cannot choose a model: no provider has a key (set KIMI_API_KEY, GLM_API_KEY, OPENAI_API_KEY, OPENROUTER_API_KEY or CUSTOM_API_URL)',
    );
  });

  it('adds CUSTOM_MODEL_NAME entries as custom models', () => {
    const env = {
      CUSTOM_API_URL: 'http://127.0.0.1:1/v1',
      CUSTOM_MODEL_NAME: 'llama3.2, qwen2.5-coder,,',
    };
    const registry = new ModelRegistry(env);
    const custom = registry.list().filter((model) => model.provider === 'custom');
    assert.deepEqual(custom.map((model) => model.name), ['llama3.2', 'qwen2.5-coder']);
    assert.equal(registry.resolve('QWEN2.5-CODER').provider, 'custom');
    assert.equal(registry.resolve(undefined).name, 'llama3.2');
    assert.equal(registry.isAvailable(registry.resolve('llama3.2')), true);
  });

  it('asks for CUSTOM_API_URL when a custom model is named without it', () => {
    const registry = new ModelRegistry({ CUSTOM_MODEL_NAME: 'llama3.2' });
    const err = rejection(() => registry.resolve('llama3.2'));
    assert.equal(err.code, 'NO_API_KEY');
    assert.match(err.message, /provider custom has no URL \(set CUSTOM_API_URL\)/);
  });

  it('reports a custom URL without models as invalid configuration', () => {
    const registry = new ModelRegistry({ CUSTOM_API_URL: 'http://127.0.0.1:1/v1' });
    assert.equal(rejection(() => registry.resolve(undefined)).code, 'CONFIG_INVALID');
  });

  it('prefers a configured cloud model over custom models for auto', () => {
    const registry = new ModelRegistry({
      GLM_API_KEY: 'g',
      CUSTOM_API_URL: 'http://127.0.0.1:1/v1',
      CUSTOM_MODEL_NAME: 'llama3.2',
    });
    assert.equal(registry.resolve(undefined).name, 'glm-4.6');
  });
});
