/**
 * The API client. Every call to the platform goes through `api<T>()`:
 * it adds the bearer token, sends/parses JSON and throws an `ApiError`
 * ({status, detail}) for any non-2xx reply. A 401 clears the token and
 * notifies the auth layer (which redirects to /login).
 */

const TOKEN_KEY = "flageval.token";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** A FastAPI-style error detail: a string, a `{code, ...}` object or a list of validation errors. */
export type ErrorDetail =
  | string
  | { code?: string; message?: string; [key: string]: unknown }
  | ValidationIssue[]
  | null;

export interface ValidationIssue {
  loc?: (string | number)[];
  msg?: string;
  type?: string;
  field?: string;
  message?: string;
  [key: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly detail: ErrorDetail;

  constructor(status: number, detail: ErrorDetail) {
    super(describeDetail(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }

  /** `detail.code` when the detail is an object with a code. */
  get code(): string | undefined {
    const d = this.detail;
    if (d && typeof d === "object" && !Array.isArray(d) && typeof d.code === "string") return d.code;
    return undefined;
  }
}

/** A human-readable one-liner for any error detail. */
export function describeDetail(detail: ErrorDetail): string {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((i) => {
        const where = i.field ?? (i.loc ? i.loc.filter((p) => p !== "body").join(".") : "");
        const msg = i.msg ?? i.message ?? "";
        return where ? `${where}: ${msg}` : msg;
      })
      .join("; ");
  }
  const parts: string[] = [];
  if (typeof detail.message === "string") parts.push(detail.message);
  if (typeof detail.code === "string") parts.push(`(${detail.code})`);
  if (parts.length === 0) return JSON.stringify(detail);
  return parts.join(" ");
}

/** Message of any thrown value, for `message.error(errorText(e))`. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Called by the auth provider; fires when any call gets a 401. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

async function request(method: HttpMethod, path: string, body?: unknown, accept = "application/json"): Promise<Response> {
  const headers: Record<string, string> = { accept };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  if (!res.ok) {
    let detail: ErrorDetail = null;
    const text = await res.text();
    try {
      const parsed = JSON.parse(text) as { detail?: ErrorDetail };
      detail = parsed.detail ?? (text || null);
    } catch {
      detail = text || res.statusText;
    }
    if (res.status === 401 && token) {
      setToken(null);
      unauthorizedListeners.forEach((l) => l());
    }
    throw new ApiError(res.status, detail);
  }
  return res;
}

/** JSON call: `api<Evaluation>("GET", "/api/evaluations/123")`. Body may be an object or FormData. */
export async function api<T>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  return JSON.parse(text) as T;
}

/** Plain-text call (logs, JSONL). */
export async function apiText(method: HttpMethod, path: string): Promise<string> {
  const res = await request(method, path, undefined, "text/plain, */*");
  return res.text();
}
