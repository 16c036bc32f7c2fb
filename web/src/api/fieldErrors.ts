import type { FormInstance } from "antd";
import { ApiError, type ValidationIssue } from "./client";

export interface FieldError {
  name: (string | number)[];
  errors: string[];
}

/**
 * Map a 422 validation detail (`[{loc:["body","private","gpus"], msg}]`) onto form field
 * paths (`["private","gpus"]`). `known` (dotted paths) limits the paths to fields the form
 * has: the longest known prefix is used. Issues that name no known field go to `rest`.
 */
export function splitFieldErrors(e: unknown, known?: string[]): { fields: FieldError[]; rest: string[] } {
  const fields: FieldError[] = [];
  const rest: string[] = [];
  if (!(e instanceof ApiError) || !Array.isArray(e.detail)) return { fields, rest };
  for (const issue of e.detail as ValidationIssue[]) {
    const msg = issue.msg ?? issue.message ?? "invalid";
    const loc = (issue.loc ?? []).filter((p) => p !== "body");
    let path: (string | number)[] = loc.length ? loc : issue.field ? [issue.field] : [];
    if (known && path.length) {
      let match: (string | number)[] = [];
      for (let i = path.length; i > 0; i--) {
        if (known.includes(path.slice(0, i).join("."))) {
          match = path.slice(0, i);
          break;
        }
      }
      path = match;
    }
    if (path.length === 0) {
      rest.push(loc.length ? `${loc.join(".")}: ${msg}` : msg);
      continue;
    }
    const existing = fields.find((f) => f.name.join(".") === path.join("."));
    if (existing) existing.errors.push(msg);
    else fields.push({ name: path, errors: [msg] });
  }
  return { fields, rest };
}

/** Put the API's 422 issues on the form's fields; returns the messages that fit no field. */
export function applyFieldErrors<T>(form: FormInstance<T>, e: unknown, known?: string[]): string[] {
  const { fields, rest } = splitFieldErrors(e, known);
  if (fields.length) form.setFields(fields as Parameters<FormInstance<T>["setFields"]>[0]);
  return rest;
}
