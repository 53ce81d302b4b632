#!/usr/bin/env node
// berth is written in TypeScript and run through tsx's loader: no build step to forget.
import { register } from 'tsx/esm/api'

// Whatever berth writes under $BERTH_HOME (the store, topologies, logs, snapshots, secrets) is
// root's alone. Programs berth starts to build images set their own.
process.umask(0o077)

register()
await import('../scripts/berth.ts')
