#!/usr/bin/env node
// berth is written in TypeScript and run through tsx's loader: no build step to forget.
import { register } from 'tsx/esm/api'

register()
await import('../scripts/berth.ts')
