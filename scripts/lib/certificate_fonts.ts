/**
 * The objects of the Storage bucket `certificate-fonts` (supabase/config.toml): Roboto (decoded from pdfmake's
 * font file: it has Cyrillic), the Noto fonts a certificate needs for names Roboto cannot draw, and HarfBuzz's
 * subsetter, taken from their npm packages. `npm run fonts`
 * (and `npm start`, `npm test` by themselves) copy them into the bucket's `objects_path`, which
 * `supabase seed buckets --linked` uploads to the project and the local Storage serves.
 * `deno run -A scripts/lib/certificate_fonts.ts` is `npm run fonts`.
 */
import { fileURLToPath } from "node:url";
import robotoFiles from "pdfmake/build/vfs_fonts.js";

/** Each object's name in the bucket, and where npm put it. */
export const certificateFontSources: Record<string, string> = {
  "NotoSansArabic-Medium.ttf": "@expo-google-fonts/noto-sans-arabic/500Medium/NotoSansArabic_500Medium.ttf",
  "NotoSansHebrew-Medium.ttf": "@expo-google-fonts/noto-sans-hebrew/500Medium/NotoSansHebrew_500Medium.ttf",
  "NotoSansSC-Medium.ttf": "@expo-google-fonts/noto-sans-sc/500Medium/NotoSansSC_500Medium.ttf",
  "NotoSansKR-Medium.ttf": "@expo-google-fonts/noto-sans-kr/500Medium/NotoSansKR_500Medium.ttf",
  "NotoEmoji-Medium.ttf": "@expo-google-fonts/noto-emoji/500Medium/NotoEmoji_500Medium.ttf",
  "harfbuzz-subset.wasm": "harfbuzzjs/dist/harfbuzz-subset.wasm",
};

const root = new URL("../../", import.meta.url);
/** The bucket's objects_path in supabase/config.toml (git-ignored: copies of npm's files). */
export const certificateFontsDirectory = fileURLToPath(new URL(".tripwire/certificate-fonts/", root));

/** Roboto's two weights, which pdfmake ships only base64-encoded in one script. */
const robotoObjects = ["Roboto-Regular.ttf", "Roboto-Medium.ttf"];

/** Writes `to`, aside and renamed: a process reading it meanwhile sees the old file or the new. */
async function replaceFile(to: string, write: (partial: string) => Promise<void>) {
  const partial = `${to}.${crypto.randomUUID()}.partial`;
  await write(partial);
  await Deno.rename(partial, to);
}

/** Copies each object into the bucket's folder, unless an identical-size copy is there already. */
export async function prepareCertificateFonts(): Promise<string> {
  await Deno.mkdir(certificateFontsDirectory, { recursive: true });
  for (const object of robotoObjects) {
    const bytes = Uint8Array.from(
      atob((robotoFiles as Record<string, string>)[object]),
      (c) => c.charCodeAt(0),
    );
    const to = `${certificateFontsDirectory}${object}`;
    if ((await Deno.stat(to).catch(() => null))?.size === bytes.byteLength) continue;
    await replaceFile(to, (partial) => Deno.writeFile(partial, bytes));
  }
  for (const [object, source] of Object.entries(certificateFontSources)) {
    const from = fileURLToPath(new URL(`node_modules/${source}`, root));
    const to = `${certificateFontsDirectory}${object}`;
    const [wanted, present] = await Promise.all([Deno.stat(from), Deno.stat(to).catch(() => null)]);
    if (present?.size === wanted.size) continue;
    await replaceFile(to, (partial) => Deno.copyFile(from, partial));
  }
  return certificateFontsDirectory;
}

if (import.meta.main) {
  console.log(`The certificate's fonts are in ${await prepareCertificateFonts()}`);
}
