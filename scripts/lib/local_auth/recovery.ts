/**
 * A forgotten password, as GoTrue's implicit flow answers it: `POST /recover` e-mails a link good once, for an
 * hour (stored only as its SHA-256, sent through the functions' e-mail outbox), `GET /verify` follows it into a
 * session, and `PUT /user` sets the new password, ending the person's other sessions.
 */
import type { Context } from "hono";
import { z } from "zod";
import {
  deliverEmail,
  emailSealContext,
  type EmailSender,
  type Language,
} from "../../../supabase/functions/_domain/email.ts";
import { sealPassword } from "../../../supabase/functions/_domain/password.ts";
import { sha256 } from "../../../supabase/functions/_shared/hash.ts";
import {
  recoveryEmailIntervalSeconds,
  recoveryLimitPerAddress,
  recoveryLinkSeconds,
  SlidingWindow,
} from "./rules.ts";
import { addressOf, type Sessions } from "./sessions.ts";
import {
  type AuthContext,
  AuthError,
  type AuthUserRow,
  checkPasswordStrength,
  jsonBody,
  userColumns,
  userJson,
  validEmail,
} from "./users.ts";

export interface RecoveryOptions {
  /**
   * Where recovery links lead when no allowed `redirect_to` is given (GoTrue's SITE_URL), and the origins a
   * `redirect_to` may name (its URI_ALLOW_LIST; the site's own origin always may).
   */
  siteUrl?: string;
  redirectOrigins?: string[];
  /** Where this stand-in is reached, for the links it e-mails (GoTrue's API_EXTERNAL_URL); the issuer. */
  externalUrl?: string;
  /** How its e-mails leave (the functions' own sender unless given). */
  emailSender?: EmailSender;
}

const RecoverBody = z.object({ email: z.string().default(""), code_challenge: z.string().nullish() });
const UserUpdate = z.object({ password: z.string("This local stand-in changes only the password") });

/** The recovery routes, and `settled` to wait for the e-mails being prepared after their answers. */
export function recovery({ sql, issuer }: AuthContext, sessions: Sessions, options: RecoveryOptions) {
  const siteUrl = options.siteUrl ?? "http://127.0.0.1:54323";
  const redirectOrigins = new Set([new URL(siteUrl).origin, ...(options.redirectOrigins ?? [])]);
  /** A `redirect_to` the allow list names, else the site (GoTrue's rule). */
  const allowedRedirect = (given: string | undefined) => {
    try {
      if (given && redirectOrigins.has(new URL(given).origin)) return given;
    } catch {
      // not a URL: the site
    }
    return siteUrl;
  };
  // Per e-mail address, known or not, so the answer never says whether an account exists; and per client.
  const recoveryRequests = new SlidingWindow({ failures: 1, windowSeconds: recoveryEmailIntervalSeconds });
  const recoveryClients = new SlidingWindow(recoveryLimitPerAddress);
  /** Recovery e-mails being prepared after their answers went out. */
  const preparing = new Set<Promise<void>>();

  /**
   * Admits a recovery request (429 past either limit) and answers at once: the e-mail, if `email` has a login,
   * is prepared after the answer, so a known and an unknown address answer in the same time.
   */
  function admitRecovery(email: string, address: string, redirectTo: string) {
    const wait = Math.max(recoveryRequests.waitSeconds(email), recoveryClients.waitSeconds(address));
    if (wait > 0) {
      throw new AuthError(
        429,
        "over_email_send_rate_limit",
        `For security purposes, you can only request this after ${wait} seconds.`,
        wait,
      );
    }
    recoveryRequests.record(email);
    recoveryClients.record(address);
    const work: Promise<void> = recover(email, redirectTo).catch((error) =>
      console.error(JSON.stringify({ level: "error", msg: "recovery e-mail failed", error: String(error) }))
    ).finally(() => preparing.delete(work));
    preparing.add(work);
  }

  /**
   * A recovery e-mail for `email` if it has a login: a link good once, for an hour, stored only as its
   * SHA-256, sent through the e-mail outbox (sealed there until sent).
   */
  async function recover(email: string, redirectTo: string) {
    const token = Array.from(
      crypto.getRandomValues(new Uint8Array(28)),
      (b) => b.toString(16).padStart(2, "0"),
    )
      .join("");
    const link = `${options.externalUrl ?? issuer}/verify?${new URLSearchParams({
      token,
      type: "recovery",
      redirect_to: redirectTo,
    })}`;
    const queued = await sql.begin(async (tx) => {
      const [person] = await tx<{ id: string; full_name: string; language: Language }[]>`
        update auth.users a set recovery_token = ${sha256(token)}, recovery_sent_at = now()
        from public.users u cross join academy.settings s
        where lower(a.email) = ${email} and a.deleted_at is null and u.id = a.id
        returning a.id, u.full_name, s.language`;
      if (!person) return undefined;
      const sealed = await sealPassword(link, emailSealContext("password_recovery", person.id));
      const [row] = await tx<{ outbox_id: string }[]>`
        insert into private.email_outbox (user_id, recipient, template, payload, sealed_password)
        values (${person.id}, ${email}, 'password_recovery',
                jsonb_build_object('full_name', ${person.full_name}::text, 'language', ${person.language}::text), ${sealed})
        returning id::text as outbox_id`;
      return { ...person, outboxId: row.outbox_id };
    });
    if (!queued) return;
    // Sent now; if the provider refuses, the scheduler's retry-emails sends it from the outbox.
    await deliverEmail(
      {
        outboxId: queued.outboxId,
        userId: queued.id,
        email,
        fullName: queued.full_name,
        template: "password_recovery",
        language: queued.language,
      },
      link,
      options.emailSender,
      sql,
    );
  }

  /** A recovery link followed: good once, within the hour; signs its person in (GoTrue's implicit flow). */
  function verifyRecovery(token: string, userAgent: string | undefined) {
    return sql.begin(async (tx) => {
      const [user] = await tx<AuthUserRow[]>`
        update auth.users
        set recovery_token = null, email_confirmed_at = coalesce(email_confirmed_at, now()), last_sign_in_at = now()
        where recovery_token = ${sha256(token)} and deleted_at is null
          and recovery_sent_at > now() - make_interval(secs => ${recoveryLinkSeconds})
          and (banned_until is null or banned_until <= now())
        returning ${tx(userColumns)}`;
      if (!user) throw new AuthError(403, "otp_expired", "Email link is invalid or has expired");
      return await sessions.openSession(tx, user, userAgent, "otp");
    });
  }

  /** A signed-in person sets a new password (supabase-js `updateUser({ password })`); other sessions end. */
  function updatePassword(userId: string, sessionId: string, password: string) {
    checkPasswordStrength(password);
    return sql.begin(async (tx) => {
      const [current] = await tx<{ same: boolean }[]>`
        select coalesce(encrypted_password, '') <> ''
               and extensions.crypt(${password}, encrypted_password) = encrypted_password as same
        from auth.users where id = ${userId} for update`;
      if (!current) throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
      if (current.same) {
        throw new AuthError(422, "same_password", "New password should be different from the old password.");
      }
      const [user] = await tx<AuthUserRow[]>`
        update auth.users set encrypted_password = extensions.crypt(${password}, extensions.gen_salt('bf')),
                              updated_at = now()
        where id = ${userId}
        returning ${tx(userColumns)}`;
      await tx`delete from auth.sessions where user_id = ${userId} and id <> ${sessionId}`;
      return user;
    });
  }

  return {
    settled: async () => {
      await Promise.all(preparing);
    },
    routes: {
      /** POST /recover: 200 `{}` whether or not the address has a login. */
      async recover(c: Context) {
        const body = await jsonBody(c, RecoverBody);
        if (!body.email.trim()) {
          throw new AuthError(400, "validation_failed", "Password recovery requires an email");
        }
        const email = validEmail(body.email);
        if (body.code_challenge) {
          throw new AuthError(400, "validation_failed", "This local stand-in answers the implicit flow only");
        }
        admitRecovery(email, addressOf(c.req.raw), allowedRedirect(c.req.query("redirect_to")));
        return c.json({});
      },
      /** GET /verify?type=recovery&token=…: a redirect carrying the session (or the error) in its fragment. */
      async verify(c: Context) {
        const redirectTo = allowedRedirect(c.req.query("redirect_to"));
        if (c.req.query("type") !== "recovery") {
          throw new AuthError(400, "validation_failed", "Unsupported verification type");
        }
        try {
          const session = await verifyRecovery(c.req.query("token") ?? "", c.req.header("user-agent"));
          // GoTrue's implicit flow: the session in the redirect's fragment, which supabase-js reads.
          const fragment = new URLSearchParams({
            access_token: session.access_token,
            expires_at: String(session.expires_at),
            expires_in: String(session.expires_in),
            refresh_token: session.refresh_token,
            sb: "",
            token_type: session.token_type,
            type: "recovery",
          });
          return c.redirect(`${redirectTo}#${fragment}`, 303);
        } catch (error) {
          if (!(error instanceof AuthError)) throw error;
          const fragment = new URLSearchParams({
            error: "access_denied",
            error_code: error.code,
            error_description: error.message,
            sb: "",
          });
          return c.redirect(`${redirectTo}#${fragment}`, 303);
        }
      },
      /** PUT /user: the signed-in person's new password. */
      async updateUser(c: Context) {
        const { userId, sessionId } = await sessions.signedIn(c.req.header("authorization"));
        const { password } = await jsonBody(c, UserUpdate);
        return c.json(userJson(await updatePassword(userId, sessionId, password)));
      },
    },
  };
}
