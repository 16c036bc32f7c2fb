// Small helpers shared by the extra pages (kept here so the core files stay untouched).
import { useT } from "../../i18n";

export { DOMAINS, isDomain } from "./types";

/** A score as the boards show it: 4 significant decimals at most, "—" when missing. */
export function fmtScore(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (Math.abs(value) >= 1000) return value.toFixed(1);
  return String(Number(value.toFixed(4)));
}

/** Local date-time, e.g. 2026-11-28 09:05. */
export function fmtTime(value: string | null | undefined): string {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Domain labels. */
export const DOMAIN_LABEL: Record<string, [string, string]> = {
  nlp: ["自然语言处理", "NLP"],
  cv: ["计算机视觉", "CV"],
  multimodal: ["多模态", "Multimodal"],
  audio: ["语音", "Audio"],
  safety: ["安全", "Safety"],
};

export function useDomainLabel(): (domain: string) => string {
  const { lang } = useT();
  return (domain) => {
    const pair = DOMAIN_LABEL[domain];
    return pair ? pair[lang === "zh" ? 0 : 1] : domain;
  };
}

/** Sets an element's test id from an object literal (antd's onRow / onHeaderCell typing). */
export function testId<T extends object>(id: string, extra?: Record<string, string | number | undefined>): T {
  return { "data-testid": id, ...(extra ?? {}) } as unknown as T;
}
