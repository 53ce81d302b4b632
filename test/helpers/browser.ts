/**
 * Real Chromium (Debian's `chromium`) driven by playwright-core, headless, with no background
 * networking: each page is checked for what a user would see break — a script error, a Content
 * Security Policy violation — and with axe-core for accessibility.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import * as assert from 'uvu/assert'

export const CHROMIUM = process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium'

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-sync',
      '--no-first-run',
      '--metrics-recording-only',
      '--disable-features=Translate,OptimizationHints,MediaRouter',
    ],
  })
}

export interface Watched {
  context: BrowserContext
  page: Page
  /** Script errors and console errors (a CSP violation is one) seen so far; a 4xx answer is not one. */
  problems: string[]
}

/** A fresh context (its own cookies) and page, its errors collected. */
export async function openPage(browser: Browser): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    // A page answered with its 4xx status (a refusal, a 404) is what some tests ask for.
    if (m.type() === 'error' && !/^Failed to load resource: .* status of 4\d\d/.test(m.text()))
      problems.push(`console: ${m.text()}`)
  })
  return { context, page, problems }
}

const axeSource = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8'
)

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: { target: unknown[] }[]
}

/**
 * axe-core run in the page (through the DevTools protocol, which the page's CSP does not govern);
 * fails on any serious or critical violation, naming the rule and the elements.
 */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  await page.evaluate(axeSource)
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run: (o: unknown) => Promise<{ violations: AxeViolation[] }> }
      }
    ).axe
    const r = await axe.run({ resultTypes: ['violations'] })
    return r.violations
  })
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  assert.equal(
    bad.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`
    ),
    [],
    `${what}: accessibility violations`
  )
}
