/**
 * Every event type the academy's endpoints can take, as `webhook_events_type_known` and
 * `webhook_endpoints_event_types_known` allow them. A module of its own, without imports, so the web app can
 * offer the list too.
 */
export const eventTypes = [
  "student.created",
  "lesson.started",
  "lesson.completed",
  "course.completed",
  "student.stalled",
  "student.refunded",
  "student.suspended",
] as const;
export type EventType = (typeof eventTypes)[number];
