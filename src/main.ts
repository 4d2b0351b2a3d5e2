import { main } from './cli.ts';

// The entry `npm run build` bundles into the single executable; bin/exai.js is
// the entry from source. Node repeats the executable's path as argv[1] inside
// a single executable, so the arguments start at index 2 in both.
void main(process.argv.slice(2));
