// Minimal YAML emitter for test configs: block mappings, flow sequences of scalars,
// block sequences of mappings. Strings that could be misread are double-quoted
// (JSON string syntax is valid YAML double-quoted syntax).

const PLAIN_SAFE = /^[A-Za-z0-9_./-]+$/;
const LOOKS_SPECIAL = /^(?:[-+]?[0-9][0-9_.eE+-]*|true|false|yes|no|on|off|null|~)$/i;

export function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Raw) return v.text;
  const s = String(v);
  // Durations such as 5s / 250ms stay plain so they look like hand-written config.
  if (/^[0-9]+(?:ms|s|m|h|d)$/.test(s)) return s;
  if (PLAIN_SAFE.test(s) && !LOOKS_SPECIAL.test(s)) return s;
  return JSON.stringify(s);
}

export class Raw {
  constructor(text) { this.text = text; }
}
/** Emit `text` verbatim as a YAML scalar (for deliberately bad values in config tests). */
export const raw = (text) => new Raw(text);

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Raw);
}

export function toYaml(obj, indent = 0) {
  const pad = ' '.repeat(indent);
  let out = '';
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    const key = scalar(k);
    if (isPlainObject(v)) {
      out += `${pad}${key}:\n${toYaml(v, indent + 2)}`;
    } else if (Array.isArray(v)) {
      if (v.length > 0 && v.every(isPlainObject)) {
        out += `${pad}${key}:\n`;
        for (const item of v) {
          const body = toYaml(item, indent + 4);
          out += `${pad}  - ${body.slice(indent + 4)}`;
        }
      } else {
        out += `${pad}${key}: [${v.map(scalar).join(', ')}]\n`;
      }
    } else {
      out += `${pad}${key}: ${scalar(v)}\n`;
    }
  }
  return out;
}
