#!/usr/bin/env node
// Runs exai from source: tsx compiles the TypeScript on the fly. The single
// executable (`npm run build`) bundles the same entry and needs no tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
await main(process.argv.slice(2));
