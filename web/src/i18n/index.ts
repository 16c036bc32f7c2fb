/**
 * Tiny i18n layer. Chinese is the default; the choice is kept in localStorage.
 *
 *   const { tr, lang, setLang } = useT();
 *   tr("创建评测", "Create evaluation")
 *
 * `tr(zh, en)` needs no dictionary; `t(key)` reads the shared dictionary in ./dict.ts.
 */
import { createContext, createElement, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { dict, type DictKey } from "./dict";

export type Lang = "zh" | "en";
const LANG_KEY = "flageval.lang";

export function initialLang(): Lang {
  const saved = localStorage.getItem(LANG_KEY);
  return saved === "en" ? "en" : "zh";
}

export interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  toggle: () => void;
  /** Pick the string for the current language. */
  tr: (zh: string, en: string) => string;
  /** Look up a key of the shared dictionary. */
  t: (key: DictKey) => string;
}

const I18nContext = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = useCallback((l: Lang) => {
    localStorage.setItem(LANG_KEY, l);
    document.documentElement.lang = l === "zh" ? "zh-CN" : "en";
    setLangState(l);
  }, []);
  const value = useMemo<I18n>(
    () => ({
      lang,
      setLang,
      toggle: () => setLang(lang === "zh" ? "en" : "zh"),
      tr: (zh, en) => (lang === "zh" ? zh : en),
      t: (key) => dict[key][lang === "zh" ? 0 : 1],
    }),
    [lang, setLang],
  );
  return createElement(I18nContext.Provider, { value }, children);
}

export function useT(): I18n {
  const ctx = useContext(I18nContext);
  if (!ctx) throw new Error("useT outside I18nProvider");
  return ctx;
}

export type { DictKey };
