#!/usr/bin/env node
// The kube-workflows command. Runs the compiled CLI (npm run build writes dist/).
import { main } from '../dist/cli/main.js';

await main();
