// The Worker imports the dashboard's assets as text (wrangler.toml's [[rules]] of type Text).
declare module '*/web/assets/app.js' {
  const text: string
  export default text
}
declare module '*/web/assets/app.css' {
  const text: string
  export default text
}
