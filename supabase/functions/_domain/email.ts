/**
 * E-mails to people (the welcome e-mail, a reset password, locally a recovery link): queued in the outbox inside the
 * transaction that makes them necessary, sent right after commit, and retried from the outbox when the
 * provider failed. The provider is Resend when RESEND_API_KEY is set. Without it, locally, a sender that writes
 * one log line (without the body); deployed, none: the e-mails wait in the outbox, untouched, until the key is
 * set (the answer says `not_configured`, the status answer `degraded`).
 */
import { z } from "zod";
import { config } from "../_shared/config.ts";
import { db, type PrivateRow, type Sql } from "../_shared/db.ts";
import type { Language } from "../_shared/language.ts";
import { log } from "../_shared/log.ts";
import { unsealPassword } from "./password.ts";

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The provider drops a second send with the same key (an outbox retry racing a slow first send). */
  idempotencyKey: string;
}

export interface EmailSender {
  /** False when there is no provider to hand e-mails to: they stay queued, no attempt counted. */
  readonly configured: boolean;
  /** Hands the message to the provider; throws when the provider did not accept it. */
  send(message: EmailMessage): Promise<void>;
}

const sendTimeoutMs = 5_000;

/** Resend's HTTP API: POST /emails with a bearer key (https://resend.com/docs/api-reference/emails/send-email). */
export class ResendEmailSender implements EmailSender {
  readonly configured = true;
  constructor(readonly apiKey: string, readonly from: string, readonly baseUrl = "https://api.resend.com") {}

  async send(message: EmailMessage): Promise<void> {
    const response = await fetch(new URL("/emails", this.baseUrl), {
      method: "POST",
      headers: {
        "authorization": `Bearer ${this.apiKey}`,
        "content-type": "application/json",
        "idempotency-key": message.idempotencyKey,
      },
      body: JSON.stringify({
        from: this.from,
        to: [message.to],
        subject: message.subject,
        text: message.text,
        html: message.html,
      }),
      signal: AbortSignal.timeout(sendTimeoutMs),
    });
    if (response.ok) {
      await response.body?.cancel();
      return;
    }
    const answer = await response.json().catch(() => ({})) as { name?: string; message?: string };
    throw new Error(
      `Resend answered ${response.status} ${answer.name ?? ""}: ${answer.message ?? ""}`.trim(),
    );
  }
}

/** The local sender: the e-mail is "sent" to the log, recipient and subject only (the body holds the password). */
export class LogEmailSender implements EmailSender {
  readonly configured = true;
  send(message: EmailMessage): Promise<void> {
    log("info", "email_sent", { to: message.to, subject: message.subject });
    return Promise.resolve();
  }
}

/** Deployed without RESEND_API_KEY: nothing is sent, nothing is pretended. */
export class UnconfiguredEmailSender implements EmailSender {
  readonly configured = false;
  send(): Promise<void> {
    return Promise.reject(new Error("RESEND_API_KEY is not set"));
  }
}

let current: EmailSender | undefined;

/** The configured sender of this isolate. */
export function emailSender(): EmailSender {
  const { resendApiKey, emailFrom, resendApiUrl, local } = config();
  current ??= resendApiKey
    ? new ResendEmailSender(resendApiKey, emailFrom, resendApiUrl)
    : local
    ? new LogEmailSender()
    : new UnconfiguredEmailSender();
  return current;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

export type EmailTemplate = "welcome" | "password_reset" | "password_recovery";
export type { Language };

/** A template as keys and contexts name it: `password-reset`. */
const templateSlug = (template: EmailTemplate) => template.replace("_", "-");

interface Texts {
  subject: string;
  greeting: (name: string) => string;
  lead: string;
  signIn: string;
}

/**
 * Every text the e-mails say, per language (the academy's, `academy.settings.language`, Russian unless
 * set), in one catalogue: the code never branches on a language.
 */
const catalogue: Record<
  Language,
  Record<EmailTemplate, Texts> & { login: string; password: string; noPassword: string; notYou: string }
> = {
  ru: {
    welcome: {
      subject: "Ваш курс Tripwire готов",
      greeting: (name) => `Здравствуйте, ${name}!`,
      lead: "Ваш курс Tripwire открыт. Войдите и начните с первого урока:",
      signIn: "Войти",
    },
    password_reset: {
      subject: "Новый пароль для курса Tripwire",
      greeting: (name) => `Здравствуйте, ${name}!`,
      lead: "Ваш менеджер задал вам новый пароль. Прежний больше не действует. Войти:",
      signIn: "Войти",
    },
    password_recovery: {
      subject: "Восстановление пароля к курсу Tripwire",
      greeting: (name) => `Здравствуйте, ${name}!`,
      lead: "Вы нажали «Забыли пароль?». Задайте новый пароль по ссылке — она действует час и один раз:",
      signIn: "Задать новый пароль",
    },
    login: "Логин",
    password: "Пароль",
    noPassword: "Задайте пароль через «Забыли пароль?» на странице входа.",
    notYou: "Если вы не просили восстановить пароль, просто удалите это письмо: прежний пароль действует.",
  },
  en: {
    welcome: {
      subject: "Your Tripwire course is ready",
      greeting: (name) => `Hello, ${name}!`,
      lead: "Your Tripwire course is ready. Sign in and start with the first lesson:",
      signIn: "Sign in",
    },
    password_reset: {
      subject: "Your new Tripwire password",
      greeting: (name) => `Hello, ${name}!`,
      lead: "Your manager has set a new password for you; the old one no longer works. Sign in:",
      signIn: "Sign in",
    },
    password_recovery: {
      subject: "Recover your Tripwire password",
      greeting: (name) => `Hello, ${name}!`,
      lead:
        'You pressed "Forgot password?". Choose a new password with this link — it works once, for an hour:',
      signIn: "Choose a new password",
    },
    login: "Login",
    password: "Password",
    noPassword: 'Choose your password with "Forgot password?" on the sign-in page.',
    notYou:
      "If you did not ask to recover your password, just delete this e-mail: your password is unchanged.",
  },
};

/**
 * An e-mail's text in the academy's language. `secret` is what it carries: the password of a welcome or a
 * reset (without one — it could not be recovered — it points to "Forgot password?"), or a recovery's link.
 */
export function emailMessage(
  email: {
    outboxId: number | string;
    email: string;
    fullName: string;
    template: EmailTemplate;
    language: Language;
  },
  secret: string | undefined,
  loginUrl = config().loginUrl,
): EmailMessage {
  const words = catalogue[email.language] ?? catalogue.ru;
  const texts = words[email.template];
  const recovery = email.template === "password_recovery";
  const link = recovery ? secret ?? loginUrl : loginUrl;
  const credentials = recovery
    ? [words.notYou]
    : secret
    ? [`${words.login}: ${email.email}`, `${words.password}: ${secret}`]
    : [`${words.login}: ${email.email}`, words.noPassword];
  const text = [texts.greeting(email.fullName), "", texts.lead, link, "", ...credentials].join("\n");
  const html = [
    `<p>${escapeHtml(texts.greeting(email.fullName))}</p>`,
    `<p>${escapeHtml(texts.lead)} <a href="${escapeHtml(link)}">${escapeHtml(texts.signIn)}</a></p>`,
    `<p>${credentials.map(escapeHtml).join("<br>")}</p>`,
  ].join("\n");
  return {
    to: email.email,
    subject: texts.subject,
    text,
    html,
    idempotencyKey: `${templateSlug(email.template)}-email/${email.outboxId}`,
  };
}

/** Context the sealed secret of a queued e-mail is bound to. */
export const emailSealContext = (template: EmailTemplate, userId: string) =>
  `${templateSlug(template)}-email:${userId}`;

/** Attempts per e-mail before it is marked failed. */
export const maxEmailAttempts = 8;

export interface QueuedEmail {
  outboxId: number | string;
  userId: string;
  email: string;
  fullName: string;
  template: EmailTemplate;
  language: Language;
}

/**
 * Sends one queued e-mail and records the outcome: sent (the outbox row, and for a welcome e-mail the
 * student's `welcome_email_sent`, in one statement) or still queued with a backed-off next attempt.
 */
export async function deliverEmail(
  email: QueuedEmail,
  password: string | undefined,
  sender: EmailSender = emailSender(),
  sql: Sql = db(),
): Promise<"sent" | "queued" | "failed" | "not_configured"> {
  if (!sender.configured) return "not_configured";
  try {
    await sender.send(emailMessage(email, password));
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 500);
    const [row] = await sql<{ status: "queued" | "failed" }[]>`
      update private.email_outbox set
        attempts = attempts + 1,
        last_error = ${reason},
        status = case when attempts + 1 >= ${maxEmailAttempts} then 'failed' else 'queued' end,
        sealed_password = case when attempts + 1 >= ${maxEmailAttempts} then null else sealed_password end,
        next_attempt_at = now() + least(interval '1 minute' * power(2, attempts), interval '6 hours')
      where id = ${email.outboxId}
      returning status`;
    log("warn", "email_failed", {
      outbox_id: String(email.outboxId),
      user_id: email.userId,
      status: row?.status,
      reason,
    });
    return row?.status ?? "queued";
  }
  await sql`
    with sent as (
      update private.email_outbox
      set status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = null, sealed_password = null
      where id = ${email.outboxId} and status = 'queued'
      returning user_id, template
    )
    update public.tripwire_users
    set welcome_email_sent = true, welcome_email_sent_at = now()
    where user_id in (select user_id from sent where template = 'welcome') and not welcome_email_sent`;
  return "sent";
}

/** How far a retry run got. */
export const RetryReport = z.object({
  attempted: z.number().int().min(0),
  sent: z.number().int().min(0),
  queued: z.number().int().min(0).meta({ description: "Refused for now; tried again on a later run." }),
  failed: z.number().int().min(0).meta({ description: "Given up on." }),
  not_configured: z.boolean().meta({
    description: "No e-mail provider is configured (RESEND_API_KEY): every queued e-mail waits, untouched.",
  }),
});
export type RetryReport = z.output<typeof RetryReport>;

/** How long a claimed e-mail is left alone by other runs before it counts as abandoned. */
const claimLease = "5 minutes";

/**
 * Sends the e-mails that are due (for the scheduler). Rows are claimed with SKIP LOCKED and
 * a lease, so overlapping runs never send one e-mail twice, and no lock is held while sending.
 */
export async function sendQueuedEmails(
  limit = 20,
  sender: EmailSender = emailSender(),
  sql: Sql = db(),
): Promise<RetryReport> {
  if (!sender.configured) {
    log("warn", "email_not_configured", { message: "RESEND_API_KEY is not set: queued e-mails wait" });
    return { attempted: 0, sent: 0, queued: 0, failed: 0, not_configured: true };
  }
  const due = await sql<
    (Pick<PrivateRow<"email_outbox">, "id" | "user_id" | "recipient" | "sealed_password"> & {
      full_name: string;
      template: EmailTemplate;
      language: Language | null;
    })[]
  >`
    update private.email_outbox o
    set next_attempt_at = now() + ${claimLease}::interval
    where o.id in (
      select id from private.email_outbox
      where status = 'queued' and next_attempt_at <= now()
      order by next_attempt_at
      limit ${limit}
      for update skip locked
    )
    returning o.id, o.user_id, o.recipient, o.payload ->> 'full_name' as full_name, o.sealed_password, o.template,
              o.payload ->> 'language' as language`;
  const report: RetryReport = { attempted: due.length, sent: 0, queued: 0, failed: 0, not_configured: false };
  for (const row of due) {
    const password = row.sealed_password
      ? await unsealPassword(row.sealed_password, emailSealContext(row.template, row.user_id))
      : undefined;
    const outcome = await deliverEmail(
      {
        outboxId: row.id,
        userId: row.user_id,
        email: row.recipient,
        fullName: row.full_name ?? "",
        template: row.template,
        language: row.language ?? "ru",
      },
      password,
      sender,
      sql,
    );
    if (outcome !== "not_configured") report[outcome]++;
  }
  return report;
}
