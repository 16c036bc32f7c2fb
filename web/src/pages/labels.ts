import type { Domain } from "../api/types";
import type { Lang } from "../i18n";

const DOMAIN_LABELS: Record<Domain, [string, string]> = {
  nlp: ["NLP 大语言模型", "NLP"],
  cv: ["CV 视觉模型", "CV"],
  multimodal: ["多模态", "Multimodal"],
  audio: ["语音", "Audio"],
  safety: ["安全", "Safety"],
};

export function domainLabel(d: Domain, lang: Lang): string {
  const l = DOMAIN_LABELS[d];
  return l ? l[lang === "zh" ? 0 : 1] : d;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function formatDuration(seconds: number | null | undefined, lang: Lang): string {
  if (seconds == null) return "";
  const m = Math.round(seconds / 60);
  if (m < 60) return lang === "zh" ? `约 ${m} 分钟` : `~${m} min`;
  const h = Math.floor(m / 60);
  return lang === "zh" ? `约 ${h} 小时 ${m % 60} 分钟` : `~${h} h ${m % 60} min`;
}
