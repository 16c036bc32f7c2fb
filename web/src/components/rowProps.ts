import type { HTMLAttributes } from "react";

/** Props for antd Table `onRow` carrying test ids and data attributes. */
export function rowProps(attrs: Record<`data-${string}`, string | number | undefined>, extra?: HTMLAttributes<HTMLElement>): HTMLAttributes<HTMLElement> {
  return { ...(attrs as HTMLAttributes<HTMLElement>), ...extra };
}
