/**
 * Colours for the CLI's own lines, as chalk decides them but without loading it: on when stdout
 * is a terminal (not TERM=dumb), or when FORCE_COLOR asks (not "0"); off with NO_COLOR.
 */
const force = process.env.FORCE_COLOR
const enabled =
  force !== undefined
    ? force !== '0' && force !== 'false'
    : !process.env.NO_COLOR && !!process.stdout.isTTY && process.env.TERM !== 'dumb'

const sgr = (open: number, close: number) => (text: string) =>
  enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text

export const color = {
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
  dim: sgr(2, 22),
  bold: sgr(1, 22),
}
