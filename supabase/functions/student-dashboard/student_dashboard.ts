/**
 * The student's home screen (docs/architecture.md, student-dashboard): the course map with every
 * lesson's watch state, the student's figures, the achievement catalogue and the certificate, built by
 * one SQL statement (`private.student_dashboard`) in one round trip, the caller's role read inside it.
 */
import { z } from "zod";
import {
  assertRole,
  type Claims,
  isRevoked,
  loadCaller,
  revokedStatuses,
  type Role,
  sessionOf,
  studentStatuses,
} from "../_shared/auth.ts";
import { certificatePdfUrl, verificationUrl } from "../_domain/certificates.ts";
import { upgradeOffer, UpgradeOfferSchema } from "../_domain/handoff.ts";
import { db, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import type { Language } from "../_shared/language.ts";
import { timestamp } from "../_shared/openapi.ts";

const percentage = z.number().min(0).max(100);

const Lesson = z.object({
  id: z.number().int(),
  position: z.number().int(),
  title: z.string(),
  description: z.string().nullable(),
  duration_seconds: z.number().int(),
  has_video: z.boolean().meta({
    description: "A video is uploaded; the player gets a signed URL for it from video-tracking's GET /video.",
  }),
  min_watch_percentage: percentage,
  watch_percentage: percentage,
  qualified: z.boolean(),
  status: z.enum(["not_started", "in_progress", "completed"]),
  last_position_seconds: z.number().nullable().meta({ description: "Where to resume playback." }),
});

export const StudentDashboard = z.object({
  student: z.object({
    id: z.uuid(),
    full_name: z.string(),
    email: z.string(),
    status: z.enum(studentStatuses),
  }),
  access: z.object({
    allowed: z.boolean().meta({ description: "May watch and complete lessons." }),
    reason: z.enum(revokedStatuses).nullable().meta({ description: "Why not, when not." }),
  }),
  progress: z.object({
    lessons_completed: z.number().int().min(0),
    total_lessons: z.number().int().min(0),
    modules_completed: z.number().int().min(0),
    total_modules: z.number().int().min(0),
    completion_percentage: percentage,
    watched_seconds: z.number().min(0).meta({
      description: "Every lesson's unique watched seconds, as of now.",
    }),
    current_module_id: z.number().int().nullable().meta({ description: "null once the course is finished." }),
    last_activity_at: timestamp.nullable().meta({
      description: "The last lesson watched (followed at most a minute late) or completed; null: never.",
    }),
  }),
  course: z.object({ title: z.string(), description: z.string().nullable() }),
  modules: z.array(z.object({
    id: z.number().int(),
    position: z.number().int(),
    title: z.string(),
    description: z.string().nullable(),
    state: z.enum(["locked", "unlocked", "completed"]),
    lessons: z.array(Lesson),
  })).meta({ description: "The whole course in order." }),
  achievements: z.array(z.object({
    code: z.string(),
    title: z.string(),
    description: z.string(),
    unlocked_at: timestamp.nullable(),
  })).meta({ description: "The whole catalogue; `unlocked_at` null for those not earned yet." }),
  certificate: z.object({
    certificate_number: z.string(),
    verification_code: z.string().meta({ description: "With the number, what the public check needs." }),
    issued_at: timestamp,
    verification_url: z.string().meta({
      description:
        "The page where a person verifies it (no token; CERTIFICATE_PAGE_URL), as its QR code leads.",
    }),
    pdf_url: z.string().meta({
      description: "The certificate as a PDF (no token; in the language asked); none while revoked.",
    }),
    revoked_at: timestamp.nullable().meta({
      description: "Set when the course was refunded in full: the certificate is no longer valid.",
    }),
  }).nullable(),
  upgrade: UpgradeOfferSchema.nullable().meta({
    description:
      "The main course offered after completing this one (a personal link to its checkout); null " +
      "before completion, when the academy set no checkout, after a full refund, or once bought.",
  }),
}).meta({ id: "StudentDashboard" });
export type StudentDashboard = z.output<typeof StudentDashboard>;

/** The certificate's public page and its PDF (complete-lesson's `…/certificate.pdf` beside it). */
const certificateUrls = (number: string, code: string) => ({
  verification_url: verificationUrl(number, code),
  pdf_url: certificatePdfUrl(number, code),
});

/** The signed-in student's dashboard; anyone but a student → 403. */
export async function getDashboard(
  caller: Claims,
  language: Language | null = null,
  sql: Sql = db(),
): Promise<StudentDashboard> {
  const [row] = await sql<{
    role: string | null;
    verification_code: string | null;
    revoked_at: Date | null;
    dashboard:
      | Omit<StudentDashboard, "certificate" | "upgrade"> & {
        certificate:
          | Omit<
            NonNullable<StudentDashboard["certificate"]>,
            "verification_url" | "verification_code" | "revoked_at"
          >
          | null;
      }
      | null;
  }[]>`
    select u.role,
           case when u.role = 'student'
             then private.student_dashboard(u.id, private.content_language(${language}))
           end as dashboard,
           c.verification_code, c.revoked_at
    from (select 1) as one
    left join public.users u
      on u.id = ${caller.sub} and u.erased_at is null and private.session_live(u.id, ${sessionOf(caller)})
    left join public.certificates c on c.user_id = u.id`;
  // No caller: loadCaller says why (no account, erased, the session ended).
  if (!row.role) await loadCaller(caller, sql);
  assertRole(row?.role as Role | null | undefined, ["student"]);
  if (!row.dashboard) throw new HttpError(403, "forbidden", "This account has no Tripwire course");
  const { certificate, ...rest } = row.dashboard;
  const status = rest.student.status;
  // What SQL built, parsed with the schema the OpenAPI document shows.
  return StudentDashboard.parse({
    ...rest,
    access: { allowed: !isRevoked(status), reason: isRevoked(status) ? status : null },
    certificate: certificate && {
      ...certificate,
      verification_code: row.verification_code!,
      ...certificateUrls(certificate.certificate_number, row.verification_code!),
      revoked_at: row.revoked_at?.toISOString() ?? null,
    },
    // Only a completed course has an offer: the extra read is for those students alone.
    upgrade: certificate && !row.revoked_at ? await upgradeOffer(sql, caller.sub) : null,
  });
}
