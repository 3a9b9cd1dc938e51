/// <reference lib="dom" />
/** Files the web app hands to the reader: a download saved under its name (CSV exports, JSON exports). */

/** Saves `blob` as `fileName` through a temporary link, as a browser saves a download. */
export function saveFile(fileName: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
