// Lua literals for data that comes from users (template text, header names, metadata keys). A string
// becomes a double-quoted literal whose bytes (UTF-8) are either in a small safe set or written as a
// three-digit decimal escape (\ddd), so no input can end the literal, start a comment, or change the
// code around it. Numbers are finite and always written with a fraction or exponent.

const SAFE = /^[A-Za-z0-9 _.,:/=+@-]$/;

const encoder = new TextEncoder();

/** A Lua string literal holding the UTF-8 bytes of s. */
export function luaString(s: string): string {
  return luaBytes(encoder.encode(s));
}

/** A Lua string literal holding exactly these bytes. */
export function luaBytes(bytes: Uint8Array): string {
  let out = '"';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 128 && SAFE.test(c) ? c : `\\${String(b).padStart(3, "0")}`;
  }
  return `${out}"`;
}

/** A Lua string literal holding the bytes of a byte string (one char per byte, 0-255). */
export function luaByteString(s: string): string {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new RangeError("not a byte string");
    bytes[i] = c;
  }
  return luaBytes(bytes);
}

export function luaNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  const s = String(n);
  return /[.e]/.test(s) ? s : `${s}.0`;
}
