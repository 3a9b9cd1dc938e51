-- The certificate speaks to people (issue: a product people would pay for). Its Russian sentence no longer
-- guesses the graduate's gender with «прошёл(а)»: the passive «прохождение курса» fits anyone. Only the text
-- this project shipped is replaced, so an academy's own wording stays; certificates already issued keep the
-- sentence they were issued with (their course snapshot). supabase/course.json carries the same text, which
-- `npm run bootstrap` loads.
update public.course
set certificate_text = jsonb_set(
  certificate_text::jsonb, '{ru}',
  to_jsonb('Настоящим подтверждается успешное прохождение курса «{course}»: {full_name}.'::text)
)::public.localized_text
where certificate_text::jsonb ->> 'ru' = 'Настоящим подтверждается, что {full_name} прошёл(а) курс «{course}».';
