/// <reference lib="dom" />
/** The student's screens: the course map, the lesson player, and the public certificate page. */
import type { Completion } from "../../supabase/functions/complete-lesson/complete_lesson.ts";
import type { StudentDashboard } from "../../supabase/functions/student-dashboard/student_dashboard.ts";
import type { PersonExport } from "../../supabase/functions/_domain/personal_data.ts";
import type { LessonVideo } from "../../supabase/functions/video-tracking/lesson_video.ts";
import { accessToken, apiKey, apiUrl, call, readableError } from "./api.ts";
import { downloadJson, errorBox, h, onLeave, show } from "./dom.ts";
import { formatDate, formatNumber, t, type TextKey } from "./i18n.ts";
import { keepSigned, signVideo } from "./signed_video.ts";
import { pdfButton, upgradeCard, verifyLink } from "./certificate_page.ts";
import { type WatchState, WatchTracker } from "./watch_tracker.ts";

function accessBanner(dashboard: StudentDashboard): HTMLElement | null {
  if (dashboard.access.allowed) return null;
  return h(
    "p",
    { class: "error", role: "alert" },
    t(`access.${dashboard.access.reason ?? "suspended"}` as TextKey),
  );
}

function progressBar(percentage: number, label: string): HTMLElement {
  return h(
    "div",
    { class: "progress" },
    h("progress", { max: 100, value: percentage, "aria-label": label }),
    label,
  );
}

type DashboardLesson = StudentDashboard["modules"][number]["lessons"][number];

/** A lesson's state at a glance: a mark, its progress while it is under way, and what may be done with it. */
const lessonMark: Record<DashboardLesson["status"] | "locked", string> = {
  completed: "✓",
  in_progress: "◐",
  not_started: "○",
  // Not an emoji: a sign every font has (a phone without an emoji font showed a box).
  locked: "⊘",
};

/**
 * One lesson of the course map: done ✓, in progress with its bar, not started, or locked saying why (the
 * module before it to finish); a locked lesson offers nothing to press.
 */
function lessonRow(
  lesson: DashboardLesson,
  lockedBehind: string | null,
  dashboard: StudentDashboard,
): HTMLElement {
  const state = lockedBehind !== null ? "locked" : lesson.status;
  const meta = [
    t("lesson.minutes", { minutes: Math.max(1, Math.round(lesson.duration_seconds / 60)) }),
    state === "locked" ? t("lesson.locked") : t(`lesson.${lesson.status}`),
    lesson.status === "in_progress" ? formatNumber(lesson.watch_percentage / 100, "percent") : null,
  ].filter(Boolean).join(" · ");
  const action = state === "locked" || !dashboard.access.allowed ? null : h(
    "a",
    { class: "button", href: `#/lesson/${lesson.id}` },
    t(
      lesson.status === "completed"
        ? "dashboard.rewatch"
        : lesson.status === "in_progress"
        ? "dashboard.resume"
        : "dashboard.watch",
    ),
  );
  return h(
    "li",
    { class: `lesson ${state}` },
    h("span", { class: "mark", "aria-hidden": "true" }, lessonMark[state]),
    h(
      "div",
      { class: "lesson-body" },
      h("span", { class: "lesson-title" }, lesson.title),
      h("span", { class: "muted lesson-meta" }, meta),
      lesson.status === "in_progress"
        ? h("progress", {
          max: 100,
          value: lesson.watch_percentage,
          "aria-label": t("lesson.watched_short", {
            percentage: formatNumber(lesson.watch_percentage / 100, "percent"),
          }),
        })
        : null,
      state === "locked"
        ? h("span", { class: "muted" }, t("lesson.opens_after", { module: lockedBehind ?? "" }))
        : null,
    ),
    action,
  );
}

export async function courseScreen(main: HTMLElement): Promise<void> {
  show(main, t("common.loading"));
  const dashboard = await call<StudentDashboard>("student-dashboard");
  const { progress } = dashboard;
  show(
    main,
    h("h1", {}, t("dashboard.title")),
    h("p", {}, dashboard.student.full_name),
    h("h2", { class: "course-title" }, dashboard.course.title),
    dashboard.course.description ? h("p", { class: "muted" }, dashboard.course.description) : null,
    accessBanner(dashboard),
    progressBar(
      progress.completion_percentage,
      t("dashboard.progress", {
        done: progress.lessons_completed,
        total: progress.total_lessons,
        percentage: formatNumber(progress.completion_percentage / 100, "percent"),
      }),
    ),
    h("h2", {}, t("dashboard.modules")),
    h(
      "ol",
      { class: "modules" },
      dashboard.modules.map((module, index) => {
        const done = module.lessons.filter((lesson) => lesson.status === "completed").length;
        return h(
          "li",
          { class: `module ${module.state}` },
          h("h3", {}, module.title, " ", h("span", { class: "badge" }, t(`module.${module.state}`))),
          module.description ? h("p", { class: "muted" }, module.description) : null,
          // The module's progress as a picture: its lessons done out of all.
          progressBar(
            module.lessons.length ? (100 * done) / module.lessons.length : 0,
            t("dashboard.module_progress", { done, total: module.lessons.length }),
          ),
          h(
            "ul",
            { class: "lessons" },
            module.lessons.map((lesson) =>
              lessonRow(
                lesson,
                module.state === "locked" ? dashboard.modules[index - 1]?.title ?? "" : null,
                dashboard,
              )
            ),
          ),
        );
      }),
    ),
    h("h2", {}, t("dashboard.achievements")),
    h(
      "ul",
      { class: "achievements" },
      dashboard.achievements.map((achievement) =>
        h(
          "li",
          { class: achievement.unlocked_at ? "earned" : "not-earned" },
          h("strong", {}, achievement.title),
          ` — ${achievement.description}`,
          achievement.unlocked_at ? ` (${formatDate(achievement.unlocked_at)})` : null,
        )
      ),
    ),
    dashboard.certificate
      ? [
        h("h2", {}, t("dashboard.certificate")),
        h(
          "p",
          { class: "certificate" },
          t("dashboard.certificate_ready", {
            number: dashboard.certificate.certificate_number,
            date: formatDate(dashboard.certificate.issued_at),
          }),
          " ",
          dashboard.certificate.revoked_at
            ? t("dashboard.certificate_revoked", { date: formatDate(dashboard.certificate.revoked_at) })
            : h("a", { href: verifyLink(dashboard.certificate) }, t("dashboard.verify")),
        ),
        dashboard.certificate.revoked_at ? null : pdfButton(dashboard.certificate),
      ]
      : null,
    dashboard.upgrade ? upgradeCard(dashboard.upgrade) : null,
    myData(),
  );
}

/** A button that saves everything the academy holds about the signed-in student as a JSON file. */
function myData(): HTMLElement {
  const status = h("span", { "aria-live": "polite" });
  return h(
    "p",
    {},
    h("button", {
      type: "button",
      class: "link",
      onclick: async () => {
        try {
          downloadJson("my-tripwire-data.json", await call<PersonExport>("student-dashboard/export"));
        } catch (error) {
          show(status, errorBox(error));
        }
      },
    }, t("dashboard.my_data")),
    status,
  );
}

export async function lessonScreen(main: HTMLElement, lessonId: number): Promise<void> {
  show(main, t("common.loading"));
  const dashboard = await call<StudentDashboard>("student-dashboard");
  const lessons = dashboard.modules.flatMap((module) =>
    module.lessons.map((each) => ({ lesson: each, module }))
  );
  const at = lessons.findIndex((each) => each.lesson.id === lessonId);
  if (at < 0) return show(main, h("p", { class: "error", role: "alert" }, t("error.no_such_page")));
  const { lesson, module } = lessons[at];
  // A locked lesson shows why and nothing to press: no video, no speed, no progress, no "complete".
  if (module.state === "locked") {
    return show(
      main,
      h("a", { href: "#/course" }, t("lesson.back")),
      h("h1", {}, lesson.title),
      accessBanner(dashboard),
      h("p", { class: "notice", role: "status" }, t("error.lesson_locked")),
    );
  }
  const next = lessons[at + 1];
  /** The next lesson, once this one is done: its link, or the course when this was the last. */
  const nextStep = () =>
    next && next.module.state !== "locked"
      ? h(
        "a",
        { class: "button", href: `#/lesson/${next.lesson.id}` },
        t("lesson.next", { title: next.lesson.title }),
      )
      : h("a", { class: "button", href: "#/course" }, t("lesson.back_to_course"));
  // The video is private: a URL signed for a while, only while she may watch this lesson (else why not).
  let signed: LessonVideo | undefined;
  let refusal: HTMLElement | null = null;
  if (dashboard.access.allowed) {
    try {
      signed = await signVideo(lessonId);
    } catch (error) {
      refusal = errorBox(error);
    }
  }
  const video = h("video", { controls: true, preload: "metadata", playsInline: true });
  const watched = h("p", { "aria-live": "polite" });
  const meter = h("progress", { max: 100, value: lesson.watch_percentage });
  const status = h("div", { "aria-live": "polite" });
  const complete = h("button", {
    type: "button",
    class: "complete",
    disabled: !lesson.qualified || lesson.status === "completed",
    onclick: async () => {
      complete.disabled = true;
      try {
        const done = await call<Completion>("complete-lesson", { body: { lesson_id: lessonId } });
        complete.hidden = true;
        show(
          status,
          h("p", { class: "success" }, t("lesson.completed_now")),
          done.next_module?.unlocked
            ? h("p", {}, t("lesson.next_module", { title: done.next_module.title }))
            : null,
          done.certificate
            ? h(
              "p",
              {},
              t("lesson.course_done", { number: done.certificate.certificate_number }),
              " ",
              h("a", { href: verifyLink(done.certificate) }, t("dashboard.verify")),
            )
            : null,
          done.certificate ? null : h("p", {}, nextStep()),
        );
      } catch (error) {
        show(status, errorBox(error));
        complete.disabled = false;
      }
    },
  }, t("lesson.complete"));
  const describe = (state: Pick<WatchState, "watch_percentage" | "min_watch_percentage">) => {
    meter.value = state.watch_percentage;
    show(
      watched,
      t("lesson.watched", {
        percentage: formatNumber(state.watch_percentage / 100, "percent"),
        needed: formatNumber(state.min_watch_percentage / 100, "percent"),
      }),
    );
  };
  describe(lesson);
  const speed = h(
    "select",
    { "aria-label": t("lesson.speed"), onchange: () => video.playbackRate = Number(speed.value) },
    [1, 1.25, 1.5, 2].map((rate) => h("option", { value: rate }, `${rate}×`)),
  );
  const tracker = new WatchTracker({
    media: video,
    lessonId,
    endpoint: `${apiUrl}/functions/v1/video-tracking`,
    apikey: apiKey,
    accessToken,
  });
  tracker.addEventListener("state", (event) => {
    const state = (event as CustomEvent<WatchState>).detail;
    describe(state);
    if (state.qualified && state.status !== "completed") complete.disabled = false;
  });
  tracker.addEventListener("refused", (event) => {
    const { error } =
      (event as CustomEvent<{ error: { code: string; message: string; details?: unknown } }>).detail;
    show(status, errorBox(readableError(error.code, error.message, error.details)));
    complete.disabled = true;
  });
  video.addEventListener("loadedmetadata", () => {
    const resume = lesson.last_position_seconds ?? 0;
    if (resume > 0 && resume < video.duration - 1) video.currentTime = resume;
  }, { once: true });
  // A refunded or suspended student, or a locked lesson: she sees why, there is no video and nothing is sent.
  if (signed) {
    tracker.start();
    const stopRenewing = keepSigned(signed, {
      video,
      lessonId,
      // What was played is sent, and kept as played: the new source starts with nothing played.
      beforeRenewal: () => {
        tracker.keepPlayed();
        return tracker.flush();
      },
      refused: (error) => {
        void tracker.stop();
        show(status, errorBox(error));
        complete.disabled = true;
      },
    });
    onLeave(() => {
      stopRenewing();
      void tracker.stop();
    });
  }
  show(
    main,
    h("a", { href: "#/course" }, t("lesson.back")),
    h("h1", {}, lesson.title),
    accessBanner(dashboard),
    signed ? video : refusal,
    h("div", { class: "row" }, h("label", {}, t("lesson.speed"), " ", speed), meter, watched),
    lesson.status === "completed"
      ? h("div", { class: "row" }, h("p", { class: "success" }, t("lesson.done_mark")), nextStep())
      : complete,
    status,
  );
}
