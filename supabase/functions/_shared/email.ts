/**
 * The welcome e-mail: queued in the outbox inside the creating transaction, sent right after commit,
 * and retried from the outbox when the provider failed. The provider is Resend when RESEND_API_KEY
 * is set; otherwise a sender that writes one log line (without the body) — the local default.
 */
import { z } from "zod";
import { config } from "./config.ts";
import { db, type PrivateRow, type Sql } from "./db.ts";
import { log } from "./log.ts";
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
  /** Hands the message to the provider; throws when the provider did not accept it. */
  send(message: EmailMessage): Promise<void>;
}

const sendTimeoutMs = 5_000;

/** Resend's HTTP API: POST /emails with a bearer key (https://resend.com/docs/api-reference/emails/send-email). */
export class ResendEmailSender implements EmailSender {
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
  send(message: EmailMessage): Promise<void> {
    log("info", "email_sent", { to: message.to, subject: message.subject });
    return Promise.resolve();
  }
}

let current: EmailSender | undefined;

/** The configured sender of this isolate. */
export function emailSender(): EmailSender {
  const { resendApiKey, emailFrom, resendApiUrl } = config();
  current ??= resendApiKey
    ? new ResendEmailSender(resendApiKey, emailFrom, resendApiUrl)
    : new LogEmailSender();
  return current;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** The welcome e-mail's text; without a password (it could not be recovered) it points to the reset. */
export function welcomeMessage(
  student: { outboxId: number | string; email: string; fullName: string },
  password: string | undefined,
  loginUrl = config().loginUrl,
): EmailMessage {
  const credentials = password
    ? [`Login: ${student.email}`, `Password: ${password}`]
    : [`Login: ${student.email}`, `Choose your password with "Forgot password" on the sign-in page.`];
  const text = [
    `Hello, ${student.fullName}!`,
    "",
    "Your Tripwire course is ready. Sign in and start with the first lesson:",
    loginUrl,
    "",
    ...credentials,
  ].join("\n");
  const html = [
    `<p>Hello, ${escapeHtml(student.fullName)}!</p>`,
    `<p>Your Tripwire course is ready. <a href="${
      escapeHtml(loginUrl)
    }">Sign in</a> and start with the first lesson.</p>`,
    `<p>${credentials.map(escapeHtml).join("<br>")}</p>`,
  ].join("\n");
  return {
    to: student.email,
    subject: "Your Tripwire course is ready",
    text,
    html,
    idempotencyKey: `welcome-email/${student.outboxId}`,
  };
}

/** Context the sealed password of a welcome e-mail is bound to. */
export const welcomeSealContext = (userId: string) => `welcome-email:${userId}`;

/** Attempts per e-mail before it is marked failed. */
export const maxEmailAttempts = 8;

export interface QueuedWelcomeEmail {
  outboxId: number | string;
  userId: string;
  email: string;
  fullName: string;
}

/**
 * Sends one queued welcome e-mail and records the outcome: sent (outbox row and the student's
 * `welcome_email_sent` in one statement) or still queued with a backed-off next attempt.
 */
export async function deliverWelcomeEmail(
  email: QueuedWelcomeEmail,
  password: string | undefined,
  sender: EmailSender = emailSender(),
  sql: Sql = db(),
): Promise<"sent" | "queued" | "failed"> {
  try {
    await sender.send(welcomeMessage(email, password));
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
      returning user_id
    )
    update public.tripwire_users
    set welcome_email_sent = true, welcome_email_sent_at = now()
    where user_id in (select user_id from sent) and not welcome_email_sent`;
  return "sent";
}

/** How far a retry run got. */
export const RetryReport = z.object({
  attempted: z.number().int().min(0),
  sent: z.number().int().min(0),
  queued: z.number().int().min(0).meta({ description: "Refused for now; tried again on a later run." }),
  failed: z.number().int().min(0).meta({ description: "Given up on." }),
});
export type RetryReport = z.output<typeof RetryReport>;

/** How long a claimed e-mail is left alone by other runs before it counts as abandoned. */
const claimLease = "5 minutes";

/**
 * Sends the welcome e-mails that are due (for the scheduler). Rows are claimed with SKIP LOCKED and
 * a lease, so overlapping runs never send one e-mail twice, and no lock is held while sending.
 */
export async function sendQueuedEmails(
  limit = 20,
  sender: EmailSender = emailSender(),
  sql: Sql = db(),
): Promise<RetryReport> {
  const due = await sql<
    (Pick<PrivateRow<"email_outbox">, "id" | "user_id" | "recipient" | "sealed_password"> & {
      full_name: string;
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
    returning o.id, o.user_id, o.recipient, o.payload ->> 'full_name' as full_name, o.sealed_password`;
  const report: RetryReport = { attempted: due.length, sent: 0, queued: 0, failed: 0 };
  for (const row of due) {
    const password = row.sealed_password
      ? await unsealPassword(row.sealed_password, welcomeSealContext(row.user_id))
      : undefined;
    const outcome = await deliverWelcomeEmail(
      { outboxId: row.id, userId: row.user_id, email: row.recipient, fullName: row.full_name ?? "" },
      password,
      sender,
      sql,
    );
    report[outcome]++;
  }
  return report;
}
