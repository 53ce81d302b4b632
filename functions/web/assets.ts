/**
 * The dashboard's one script and one style sheet, served by berth itself (no CDN) under a name
 * that holds their hash, so a browser keeps them until they change. Node reads the files
 * (node-assets.ts); the Worker's bundle holds them as text (wrangler.toml's rules).
 */
import type { Hono } from 'hono'

export interface WebAssets {
  js: string
  css: string
}

/** FNV-1a, 32 bits, hex: enough to tell one version of a file from the next. */
function fnv(text: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return (h >>> 0).toString(16).padStart(8, '0')
}

export interface AssetPaths {
  js: string
  css: string
}

/** Serves both under /assets/ and says where. */
export function serveAssets(app: Hono, assets: WebAssets): AssetPaths {
  const paths = {
    js: `/assets/app.${fnv(assets.js)}.js`,
    css: `/assets/app.${fnv(assets.css)}.css`,
  }
  const serve = (body: string, type: string) => () =>
    new Response(body, {
      headers: {
        'content-type': `${type}; charset=utf-8`,
        'cache-control': 'public, max-age=31536000, immutable',
      },
    })
  app.get(paths.js, serve(assets.js, 'text/javascript'))
  app.get(paths.css, serve(assets.css, 'text/css'))
  return paths
}
