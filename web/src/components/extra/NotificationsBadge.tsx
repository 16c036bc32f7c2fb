import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { Badge } from "antd";
import { BellOutlined } from "@ant-design/icons";
import { api } from "../../api/client";
import { useAuth } from "../../auth/useAuth";
import { useT } from "../../i18n";

/** Fired (on window) by the notifications page after marking something read. */
export const NOTIFICATIONS_CHANGED = "flageval:notifications-changed";

export function notifyNotificationsChanged(): void {
  window.dispatchEvent(new Event(NOTIFICATIONS_CHANGED));
}

/** The caller's unread count: polled every `intervalMs` and refreshed on NOTIFICATIONS_CHANGED. */
export function useUnreadCount(intervalMs = 30_000): number {
  const { user } = useAuth();
  const [count, setCount] = useState(0);
  const refresh = useCallback(async () => {
    if (!user) {
      setCount(0);
      return;
    }
    try {
      const rows = await api<unknown[]>("GET", "/api/me/notifications?unread=true&limit=200");
      setCount(Array.isArray(rows) ? rows.length : 0);
    } catch {
      /* keep the last count */
    }
  }, [user]);
  useEffect(() => {
    void refresh();
    if (!user) return undefined;
    const timer = window.setInterval(() => void refresh(), intervalMs);
    const onChange = () => void refresh();
    window.addEventListener(NOTIFICATIONS_CHANGED, onChange);
    return () => {
      window.clearInterval(timer);
      window.removeEventListener(NOTIFICATIONS_CHANGED, onChange);
    };
  }, [refresh, intervalMs, user]);
  return count;
}

/**
 * A bell with the unread count, linking to /notifications, for the header. Renders nothing
 * when nobody is signed in. `data-testid="notifications-badge"`, `data-count` = unread.
 */
export function NotificationsBadge({ intervalMs = 30_000 }: { intervalMs?: number }) {
  const { user } = useAuth();
  const { tr } = useT();
  const count = useUnreadCount(intervalMs);
  if (!user) return null;
  return (
    <Link
      to="/notifications"
      data-testid="notifications-badge"
      data-count={count}
      aria-label={tr(`通知(${count} 条未读)`, `Notifications (${count} unread)`)}
      style={{ display: "inline-flex", alignItems: "center", padding: "0 8px", color: "inherit" }}
    >
      <Badge count={count} size="small" overflowCount={99}>
        <BellOutlined style={{ fontSize: 18, color: "inherit" }} />
      </Badge>
    </Link>
  );
}

export default NotificationsBadge;
