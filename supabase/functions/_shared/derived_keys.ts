/**
 * Keys derived from the project's sealing secrets (SEALING_KEY, then the server-side secrets: config.ts), one
 * per use, by HKDF-SHA-256 with the use's name as `info`: the sealed passwords and the payment links' signature
 * never share a key. Newest secret first; the others stay usable for reading, so a rotation breaks nothing.
 */
import { config } from "./config.ts";

const encoder = new TextEncoder();
const cache = new Map<string, Promise<CryptoKey>>();

/** The sealing secrets, newest first; an error naming what to set when there is none. */
export function sealingSecrets(): string[] {
  const { sealingSecrets } = config();
  if (sealingSecrets.length === 0) {
    throw new Error("No secret to derive keys from: set SEALING_KEY (or the Supabase secret keys)");
  }
  return sealingSecrets;
}

/** The key for `use` derived from `secret`, made once per isolate. */
export function derivedKey(
  secret: string,
  use: string,
  algorithm: AesKeyGenParams | HmacImportParams,
  usages: KeyUsage[],
): Promise<CryptoKey> {
  const name = `${use}\u0000${secret}`;
  let key = cache.get(name);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"]).then((base) =>
      crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: encoder.encode("tripwire"), info: encoder.encode(use) },
        base,
        algorithm,
        false,
        usages,
      )
    );
    cache.set(name, key);
  }
  return key;
}
