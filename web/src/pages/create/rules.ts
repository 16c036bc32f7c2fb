import type { Rule } from "antd/es/form";
import type { CardType } from "../../api/types";

export const NAME_RE = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

type Tr = (zh: string, en: string) => string;

export function nameRules(tr: Tr): Rule[] {
  return [
    { required: true, message: tr("请输入模型名称", "name is required") },
    {
      pattern: NAME_RE,
      message: tr(
        "名称:3–32 位小写字母、数字或 -,以小写字母开头,以字母或数字结尾",
        "name: 3–32 of a-z, 0-9, '-'; starts with a letter, ends with a letter or digit",
      ),
    },
  ];
}

export function descriptionRules(tr: Tr): Rule[] {
  return [{ max: 256, message: tr("描述最多 256 个字符", "description: at most 256 characters") }];
}

export function isHttpUrl(v: string): boolean {
  if (!/^https?:\/\//i.test(v) || /\s/.test(v)) return false;
  try {
    const u = new URL(v);
    return !!u.hostname;
  } catch {
    return false;
  }
}

export function urlRules(tr: Tr, field: string, required = false): Rule[] {
  return [
    { required, message: tr(`请输入${field}`, `${field} is required`) },
    {
      validator: (_, v: string | undefined) =>
        !v || isHttpUrl(v.trim())
          ? Promise.resolve()
          : Promise.reject(new Error(tr(`${field}:需为 http(s) 链接`, `${field}: must be an http(s) URL`))),
    },
  ];
}

export function gpusRule(tr: Tr, card: CardType | undefined): Rule {
  return {
    validator: (_, v: number | undefined) => {
      if (v == null || !Number.isInteger(v) || v < 1)
        return Promise.reject(new Error(tr("GPU 数量至少为 1", "gpus: at least 1")));
      if (card && v > card.max_gpus)
        return Promise.reject(
          new Error(tr(`GPU 数量:${card.name} 最多 ${card.max_gpus} 张`, `gpus: ${card.name} offers at most ${card.max_gpus}`)),
        );
      return Promise.resolve();
    },
  };
}
