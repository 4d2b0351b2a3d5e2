import { providerAccess, type Env, type ProviderName } from '../providers/catalog.ts';
import { createProvider, type ChatProvider, type RetryPolicy } from '../providers/openai-compatible.ts';

/** One provider client per provider, made on first use with the daemon's environment. */
export class ProviderPool {
  readonly #env: Env;
  readonly #retry: Partial<RetryPolicy>;
  readonly #providers = new Map<ProviderName, ChatProvider>();

  constructor(env: Env, retry: Partial<RetryPolicy> = {}) {
    this.#env = env;
    this.#retry = retry;
  }

  /** The client of `name`. */
  get(name: ProviderName): ChatProvider {
    let provider = this.#providers.get(name);
    if (!provider) {
      provider = createProvider(providerAccess(name, this.#env), { retry: this.#retry });
      this.#providers.set(name, provider);
    }
    return provider;
  }
}
