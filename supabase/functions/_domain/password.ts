/**
 * The student's generated password: made here, shown once, and kept only sealed (AES-256-GCM under
 * a key derived from the functions' secrets) while a replay or a retried e-mail may still need it.
 */
import { derivedKey, sealingSecrets } from "../_shared/derived_keys.ts";

// No look-alikes (0/O, 1/l/I), so a manager can read it out over the phone.
const upper = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const lower = "abcdefghijkmnopqrstuvwxyz";
const digits = "23456789";
const alphabet = upper + lower + digits;
const passwordLength = 20;

function randomIndex(size: number): number {
  // Rejection sampling: no modulo bias.
  const limit = 256 - (256 % size);
  const byte = new Uint8Array(1);
  for (;;) {
    crypto.getRandomValues(byte);
    if (byte[0] < limit) return byte[0] % size;
  }
}

/** A crypto-random password of 20 characters (≈ 115 bits) with an upper, a lower case letter and a digit. */
export function generatePassword(): string {
  for (;;) {
    const password = Array.from({ length: passwordLength }, () => alphabet[randomIndex(alphabet.length)])
      .join("");
    if ([upper, lower, digits].every((set) => [...password].some((char) => set.includes(char)))) {
      return password;
    }
  }
}

const encoder = new TextEncoder();

const sealingKey = (secret: string) =>
  derivedKey(secret, "sealed-password", { name: "AES-GCM", length: 256 }, ["encrypt", "decrypt"]);

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));

/**
 * Seals a password for one purpose (`context`, e.g. the outbox row it belongs to): the sealed text
 * opens only with the same context, so it cannot be moved to another row.
 */
export async function sealPassword(password: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(context) },
    await sealingKey(sealingSecrets()[0]),
    encoder.encode(password),
  );
  return `v1.${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

/** Opens a sealed password; undefined when no current secret opens it (rotated away, or tampered with). */
export async function unsealPassword(sealed: string, context: string): Promise<string | undefined> {
  const [version, iv, data] = sealed.split(".");
  if (version !== "v1" || !iv || !data) return undefined;
  for (const secret of sealingSecrets()) {
    try {
      const opened = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: fromBase64(iv), additionalData: encoder.encode(context) },
        await sealingKey(secret),
        fromBase64(data),
      );
      return new TextDecoder().decode(opened);
    } catch {
      // Not this secret; try the next.
    }
  }
  return undefined;
}
