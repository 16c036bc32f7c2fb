import { useCallback, useEffect, useState } from "react";
import { Alert, Button, Empty, List, Space, Spin, Switch, Tag, Typography, App } from "antd";
import { CheckOutlined, ReloadOutlined } from "@ant-design/icons";
import { api, errorText } from "../../api/client";
import { useT } from "../../i18n";
import { RequireAuth } from "../../auth/guards";
import { notifyNotificationsChanged } from "../../components/extra/NotificationsBadge";
import { fmtTime } from "./common";
import type { Notification } from "./types";

function useKindLabel(): (kind: string) => { color: string; label: string } {
  const { tr } = useT();
  return (kind) => {
    switch (kind) {
      case "user.reviewed":
        return { color: "purple", label: tr("账号审核", "Account review") };
      case "image.reviewed":
        return { color: "blue", label: tr("镜像审核", "Image review") };
      case "image.imported":
        return { color: "green", label: tr("镜像导入", "Image imported") };
      case "run.finished":
        return { color: "geekblue", label: tr("评测完成", "Run finished") };
      default:
        return { color: "default", label: kind };
    }
  };
}

export default function NotificationsPage() {
  return (
    <RequireAuth>
      <Notifications />
    </RequireAuth>
  );
}

function Notifications() {
  const { message } = App.useApp();
  const { tr } = useT();
  const kindOf = useKindLabel();
  const [items, setItems] = useState<Notification[]>([]);
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      const q = unreadOnly ? "?unread=true&limit=200" : "?limit=200";
      setItems(await api<Notification[]>("GET", `/api/me/notifications${q}`));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, [unreadOnly]);

  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), 30_000);
    return () => window.clearInterval(timer);
  }, [load]);

  const markRead = async (n: Notification) => {
    setBusy(n.id);
    try {
      const updated = await api<Notification>("POST", `/api/me/notifications/${n.id}/read`);
      setItems((prev) =>
        unreadOnly ? prev.filter((x) => x.id !== n.id) : prev.map((x) => (x.id === n.id ? { ...x, ...updated } : x)),
      );
      notifyNotificationsChanged();
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setBusy(null);
    }
  };

  const markAll = async () => {
    const unread = items.filter((n) => !n.read_at);
    setBusy("all");
    try {
      for (const n of unread) await api<Notification>("POST", `/api/me/notifications/${n.id}/read`);
      notifyNotificationsChanged();
      await load();
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setBusy(null);
    }
  };

  const unreadCount = items.filter((n) => !n.read_at).length;

  return (
    <div>
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {tr("通知", "Notifications")}
          {unreadCount ? (
            <Tag color="red" style={{ marginLeft: 12, verticalAlign: "middle" }} data-testid="notifications-unread">
              {tr(`${unreadCount} 条未读`, `${unreadCount} unread`)}
            </Tag>
          ) : null}
        </Typography.Title>
        <Space>
          <Space size={4}>
            <Switch checked={unreadOnly} onChange={setUnreadOnly} data-testid="notifications-unread-only" size="small" />
            <span>{tr("只看未读", "Unread only")}</span>
          </Space>
          <Button
            icon={<CheckOutlined />}
            disabled={unreadCount === 0}
            loading={busy === "all"}
            onClick={() => void markAll()}
            data-testid="notifications-read-all"
          >
            {tr("全部标为已读", "Mark all read")}
          </Button>
          <Button icon={<ReloadOutlined />} onClick={() => void load()}>
            {tr("刷新", "Refresh")}
          </Button>
        </Space>
      </Space>
      {error ? <Alert type="error" showIcon message={error} style={{ marginTop: 16 }} /> : null}
      <Spin spinning={loading && items.length === 0}>
        <div data-testid="notifications-list" style={{ marginTop: 16 }}>
          <List<Notification>
            bordered
            dataSource={items}
            locale={{ emptyText: <Empty description={tr("暂无通知", "No notifications")} /> }}
            renderItem={(n) => {
              const kind = kindOf(n.kind);
              const unread = !n.read_at;
              return (
                <List.Item
                  data-testid="notification-item"
                  data-read={unread ? "false" : "true"}
                  data-kind={n.kind}
                  style={{ background: unread ? "#f0f7ff" : undefined, alignItems: "flex-start" }}
                  actions={
                    unread
                      ? [
                          <Button
                            key="read"
                            size="small"
                            loading={busy === n.id}
                            data-testid="notification-read"
                            onClick={() => void markRead(n)}
                          >
                            {tr("标为已读", "Mark read")}
                          </Button>,
                        ]
                      : [
                          <Typography.Text key="read" type="secondary" style={{ fontSize: 12 }}>
                            {tr("已读", "Read")}
                          </Typography.Text>,
                        ]
                  }
                >
                  <List.Item.Meta
                    title={
                      <Space wrap>
                        {unread ? <Tag color="red">{tr("未读", "Unread")}</Tag> : null}
                        <Tag color={kind.color}>{kind.label}</Tag>
                        <Typography.Text strong={unread}>{n.title}</Typography.Text>
                      </Space>
                    }
                    description={
                      <>
                        <Typography.Paragraph
                          style={{ whiteSpace: "pre-wrap", marginBottom: 4, color: "rgba(0,0,0,0.75)" }}
                          ellipsis={{ rows: 6, expandable: true, symbol: tr("展开", "more") }}
                        >
                          {n.body}
                        </Typography.Paragraph>
                        <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                          {fmtTime(n.created_at)}
                        </Typography.Text>
                      </>
                    }
                  />
                </List.Item>
              );
            }}
          />
        </div>
      </Spin>
    </div>
  );
}
