/**
 * The local Supabase Auth's settings, as the project sets Supabase Auth (supabase/config.toml; tests/config_test.ts
 * holds the two to each other), and its sliding-window limits.
 */

/** Lifetime of an access token, as GoTrue's default `jwt_expiry`. */
export const accessTokenSeconds = 3600;
/** The password every seeded staff member signs in with locally (supabase/seed.sql). */
export const seededStaffPassword = "tripwire-local";
/** A recovery link's lifetime, as GoTrue's default mailer OTP expiry. */
export const recoveryLinkSeconds = 3600;
/** Seconds between two recovery e-mails to one address, as GoTrue's default SMTP max frequency. */
export const recoveryEmailIntervalSeconds = 60;
/** The shortest password accepted (the academy's setting; Supabase's "Minimum password length"). */
export const minimumPasswordLength = 8;
/** bcrypt reads 72 bytes; GoTrue refuses longer passwords. */
export const maximumPasswordLength = 72;
/** The largest request body the local Auth reads (GoTrue's bodies are a few hundred bytes). */
export const maxAuthBodyBytes = 16 * 1024;

/**
 * Sign-ins allowed per e-mail and per client address before sign-in answers 429 for a while. An attempt counts
 * when it arrives, before its password is checked (a right one takes its count back), so concurrent guesses
 * cannot all be checked at once.
 */
export const failedSignInLimits = {
  perEmail: { failures: 10, windowSeconds: 15 * 60 },
  perAddress: { failures: 30, windowSeconds: 5 * 60 },
};
/** Recovery e-mails a client address may ask for, whatever the addresses asked about. */
export const recoveryLimitPerAddress = { failures: 5, windowSeconds: 15 * 60 };

/**
 * Events per key within a sliding window: failed sign-ins (once a key reaches its limit every sign-in for it —
 * the right password too — answers 429 `over_request_rate_limit`, GoTrue's code, until the oldest failure
 * ages out, so a password cannot be guessed at the speed of the network), recovery e-mails asked for. In
 * memory: one local process; a key is forgotten once its events age out.
 */
export class SlidingWindow {
  readonly #events = new Map<string, number[]>();
  constructor(readonly limit: { failures: number; windowSeconds: number }) {}

  #recent(key: string, now: number): number[] {
    const recent = (this.#events.get(key) ?? []).filter((at) => at > now - this.limit.windowSeconds * 1000);
    if (recent.length > 0) this.#events.set(key, recent);
    else this.#events.delete(key);
    return recent;
  }

  /** Seconds until `key` may try again, or 0. */
  waitSeconds(key: string, now = Date.now()): number {
    const recent = this.#recent(key, now);
    if (recent.length < this.limit.failures) return 0;
    return Math.max(
      1,
      Math.ceil((recent[recent.length - this.limit.failures] + this.limit.windowSeconds * 1000 - now) / 1000),
    );
  }

  /** Counts an event for `key`; answers its time, to `remove` it again. */
  record(key: string, now = Date.now()): number {
    this.#events.set(key, [...this.#recent(key, now), now]);
    return now;
  }

  /** Takes back one event `record` counted. */
  remove(key: string, at: number) {
    const events = this.#events.get(key) ?? [];
    const index = events.indexOf(at);
    if (index >= 0) events.splice(index, 1);
    if (!events.length) this.#events.delete(key);
  }
}
