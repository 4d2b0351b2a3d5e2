import { ExaiError } from '../errors.ts';
import { PROVIDERS, providerAccess, providerSpec } from './catalog.ts';
import type { Env, ProviderName, ProviderSpec } from './catalog.ts';

/** One model a call can name: its provider, context window and other names. */
export interface ModelInfo {
  name: string;
  provider: ProviderName;
  contextWindow: number;
  aliases: readonly string[];
}

/**
 * Models that `DEFAULT_MODEL=auto` tries, best first; the first whose provider
 * is configured wins, and the models of `CUSTOM_MODEL_NAME` follow the list.
 */
export const AUTO_PREFERENCE: readonly string[] = Object.freeze([
  'kimi-k2-0905-preview',
  'glm-4.6',
  'kimi-k2-turbo-preview',
  'glm-4.5',
  'moonshot-v1-128k',
  'glm-4.5-air',
  'glm-4.5-flash',
  'gpt-4.1',
  'gpt-4o',
  'gpt-4o-mini',
  'anthropic/claude-sonnet-4',
  'google/gemini-2.5-pro',
]);

const KNOWN_MODELS: readonly ModelInfo[] = Object.freeze([
  known('kimi-k2-0905-preview', 'kimi', 262_144, 'kimi', 'kimi-k2'),
  known('kimi-k2-turbo-preview', 'kimi', 262_144, 'kimi-turbo', 'kimi-k2-turbo'),
  known('moonshot-v1-128k', 'kimi', 131_072, 'moonshot'),
  known('glm-4.6', 'glm', 200_000, 'glm', 'glm4.6'),
  known('glm-4.5', 'glm', 131_072, 'glm4.5'),
  known('glm-4.5-air', 'glm', 131_072, 'glm-air', 'glm4.5-air'),
  known('glm-4.5-flash', 'glm', 131_072, 'glm-flash', 'glm4.5-flash'),
  known('gpt-4.1', 'openai', 1_047_576, 'gpt4.1'),
  known('gpt-4o', 'openai', 128_000, '4o', 'gpt4o'),
  known('gpt-4o-mini', 'openai', 128_000, '4o-mini', 'gpt4o-mini'),
  known('anthropic/claude-sonnet-4', 'openrouter', 200_000, 'sonnet', 'claude-sonnet-4'),
  known('google/gemini-2.5-pro', 'openrouter', 1_048_576, 'gemini', 'gemini-2.5-pro'),
]);

// Local servers rarely say how much they take; this fits most Ollama defaults.
const CUSTOM_CONTEXT_WINDOW = 32_768;
const NAMES_IN_MESSAGE = 8;

/** The one model registry: known models plus `CUSTOM_MODEL_NAME`, resolved against env. */
export class ModelRegistry {
  readonly #env: Env;
  readonly #models: readonly ModelInfo[];
  readonly #byName = new Map<string, ModelInfo>();

  constructor(env: Env) {
    this.#env = env;
    this.#models = withCustomModels(KNOWN_MODELS, customModelNames(env));
    this.#index();
  }

  /** Every model a call may name, known ones first. */
  list(): readonly ModelInfo[] {
    return this.#models;
  }

  /** True when the model's provider is configured in env. */
  isAvailable(model: ModelInfo): boolean {
    return providerAccess(model.provider, this.#env).isConfigured;
  }

  /** The model for a call: by name or alias, else `DEFAULT_MODEL`, else the auto choice. */
  resolve(requested: string | undefined): ModelInfo {
    const named = requested?.trim() ?? '';
    if (named !== '' && named.toLowerCase() !== 'auto') return this.#checked(named, undefined);

    const fallback = this.#env['DEFAULT_MODEL']?.trim() ?? '';
    if (fallback !== '' && fallback.toLowerCase() !== 'auto') {
      return this.#checked(fallback, 'DEFAULT_MODEL');
    }
    return this.#auto();
  }

  #index(): void {
    // Names first, so an alias never hides a model of the same name.
    for (const model of this.#models) this.#byName.set(model.name.toLowerCase(), model);
    for (const model of this.#models) {
      for (const alias of model.aliases) {
        const key = alias.toLowerCase();
        if (!this.#byName.has(key)) this.#byName.set(key, model);
      }
    }
  }

  #checked(name: string, source: string | undefined): ModelInfo {
    const label = source === undefined ? `"${name}"` : `"${name}" (${source})`;
    const model = this.#byName.get(name.toLowerCase());
    if (model === undefined) {
      const message = `Cannot use model ${label}: it is not known (known: ${this.#someNames()})`;
      throw new ExaiError('UNKNOWN_MODEL', message, { facts: { model: name, source } });
    }

    if (!this.isAvailable(model)) throw unconfigured(model, label);
    return model;
  }

  #auto(): ModelInfo {
    const custom = this.#models.filter((model) => model.provider === 'custom');
    const candidates = [...AUTO_PREFERENCE, ...custom.map((model) => model.name)];
    for (const name of candidates) {
      const model = this.#byName.get(name.toLowerCase());
      if (model !== undefined && this.isAvailable(model)) return model;
    }

    if (providerAccess('custom', this.#env).isConfigured) {
      const message = 'Cannot choose a model: CUSTOM_API_URL is set but CUSTOM_MODEL_NAME names no model';
      throw new ExaiError('CONFIG_INVALID', message, { facts: { variable: 'CUSTOM_MODEL_NAME' } });
    }
    const variables = PROVIDERS.map(setupVariable);
    const message = `Cannot choose a model: no provider has a key (set ${joinOr(variables)})`;
    throw new ExaiError('NO_API_KEY', message, { facts: { variables } });
  }

  // Models that can run come first: they are the likeliest fix for a typo.
  #someNames(): string {
    const isReady = (model: ModelInfo): number => Number(this.isAvailable(model));
    const ranked = [...this.#models].sort((a, b) => isReady(b) - isReady(a));
    const names = ranked.slice(0, NAMES_IN_MESSAGE).map((model) => model.name);
    const rest = this.#models.length - names.length;
    return rest > 0 ? `${names.join(', ')} and ${rest} more` : names.join(', ');
  }
}

function unconfigured(model: ModelInfo, label: string): ExaiError {
  const spec = providerSpec(model.provider);
  const variable = setupVariable(spec);
  const lack = spec.isKeyOptional ? 'no URL' : 'no key';
  const message = `Cannot use model ${label}: provider ${spec.name} has ${lack} (set ${variable})`;
  return new ExaiError('NO_API_KEY', message, {
    facts: { model: model.name, provider: spec.name, variable },
  });
}

// The one variable that makes a provider usable: its URL when the key is optional.
function setupVariable(spec: ProviderSpec): string {
  return spec.isKeyOptional ? spec.urlEnv : (spec.keyEnv[0] ?? spec.urlEnv);
}

function known(
  name: string,
  provider: ProviderName,
  contextWindow: number,
  ...aliases: string[]
): ModelInfo {
  return Object.freeze({ name, provider, contextWindow, aliases: Object.freeze(aliases) });
}

function customModelNames(env: Env): string[] {
  const names = (env['CUSTOM_MODEL_NAME'] ?? '').split(',').map((name) => name.trim());
  return [...new Set(names.filter((name) => name !== ''))];
}

// A custom model that shares a known name replaces it: listing it in
// CUSTOM_MODEL_NAME says the local server is the one that serves it.
function withCustomModels(
  models: readonly ModelInfo[],
  customNames: string[],
): readonly ModelInfo[] {
  const overridden = new Set(customNames.map((name) => name.toLowerCase()));
  const kept = models.filter((model) => !overridden.has(model.name.toLowerCase()));
  const custom = customNames.map((name): ModelInfo => ({
    name,
    provider: 'custom',
    contextWindow: CUSTOM_CONTEXT_WINDOW,
    aliases: [],
  }));
  return Object.freeze([...kept, ...custom]);
}

function joinOr(items: readonly string[]): string {
  if (items.length < 2) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}
