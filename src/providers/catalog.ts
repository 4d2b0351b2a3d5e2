/** The providers exai can talk to; all speak OpenAI-compatible chat completions. */
export type ProviderName = 'kimi' | 'glm' | 'openai' | 'openrouter' | 'custom';

/** Where a provider's key and base URL come from. */
export interface ProviderSpec {
  name: ProviderName;
  /** Key variables, first found wins. */
  keyEnv: readonly string[];
  urlEnv: string;
  defaultUrl: string;
  isKeyOptional: boolean;
}

/** The one provider table, in the order the product documents it. */
export const PROVIDERS: readonly ProviderSpec[] = Object.freeze([
  {
    name: 'kimi',
    keyEnv: ['KIMI_API_KEY', 'MOONSHOT_API_KEY'],
    urlEnv: 'KIMI_API_URL',
    defaultUrl: 'https://api.moonshot.ai/v1',
    isKeyOptional: false,
  },
  {
    name: 'glm',
    keyEnv: ['GLM_API_KEY', 'ZHIPUAI_API_KEY'],
    urlEnv: 'GLM_API_URL',
    defaultUrl: 'https://api.z.ai/api/paas/v4',
    isKeyOptional: false,
  },
  {
    name: 'openai',
    keyEnv: ['OPENAI_API_KEY'],
    urlEnv: 'OPENAI_BASE_URL',
    defaultUrl: 'https://api.openai.com/v1',
    isKeyOptional: false,
  },
  {
    name: 'openrouter',
    keyEnv: ['OPENROUTER_API_KEY'],
    urlEnv: 'OPENROUTER_BASE_URL',
    defaultUrl: 'https://openrouter.ai/api/v1',
    isKeyOptional: false,
  },
  {
    name: 'custom',
    keyEnv: ['CUSTOM_API_KEY'],
    urlEnv: 'CUSTOM_API_URL',
    defaultUrl: 'http://localhost:11434/v1',
    isKeyOptional: true,
  },
] satisfies ProviderSpec[]);

/** Environment variables as read at start-up; tests pass plain objects. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What a provider needs to be called, resolved from the environment. */
export interface ProviderAccess {
  spec: ProviderSpec;
  apiKey: string | undefined;
  baseUrl: string;
  isConfigured: boolean;
}

/** The spec of one provider by name. */
export function providerSpec(name: ProviderName): ProviderSpec {
  const spec = PROVIDERS.find((candidate) => candidate.name === name);
  if (spec === undefined) throw new TypeError(`Cannot find provider "${name}": not in the table`);
  return spec;
}

/** Key, base URL and readiness of one provider under `env`. */
export function providerAccess(name: ProviderName, env: Env): ProviderAccess {
  const spec = providerSpec(name);
  const apiKey = firstSet(spec.keyEnv, env);
  const explicitUrl = valueOf(env, spec.urlEnv);
  const baseUrl = (explicitUrl ?? spec.defaultUrl).replace(/\/+$/, '');

  // A custom server is opt-in by its URL: most local servers need no key.
  const isConfigured = spec.isKeyOptional ? explicitUrl !== undefined : apiKey !== undefined;
  return { spec, apiKey, baseUrl, isConfigured };
}

function firstSet(names: readonly string[], env: Env): string | undefined {
  for (const name of names) {
    const value = valueOf(env, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

// Blank values count as unset, and pasted keys often carry a trailing newline.
function valueOf(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}
