import { useCallback, useEffect, useState } from "react";
import { App, Button, Card, Input, Modal, Table, Typography } from "antd";
import { api, errorText } from "../../api/client";
import { useT } from "../../i18n";

/** An entry as `GET /api/admin/leaderboards/entries` returns it. */
export interface AdminEntry {
  id: string;
  run_id: string;
  owner_id: string;
  username: string;
  domain: string;
  mode: "named" | "anonymous";
  model_name: string;
  status: "published" | "hidden" | "withdrawn";
  submitted_at: string | null;
  withdrawn_at: string | null;
  hidden_at: string | null;
  hidden_reason: string | null;
  hidden_by: string | null;
}

/** Admins: hide an entry (with a reason its owner sees). Controlled by `entry` (null: closed). */
export function HideEntryDialog({
  entry,
  onClose,
  onDone,
}: {
  entry: { id: string; model_name: string } | null;
  onClose: () => void;
  onDone: () => void;
}) {
  const { tr } = useT();
  const { message } = App.useApp();
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setReason("");
    setError(null);
  }, [entry]);

  const submit = async () => {
    if (!entry) return;
    const why = reason.trim();
    if (!why) {
      setError(tr("隐藏必须填写原因", "A reason is required"));
      return;
    }
    setBusy(true);
    try {
      await api("POST", `/api/admin/leaderboards/entries/${entry.id}/hide`, { reason: why });
      message.success(tr(`已隐藏 ${entry.model_name}`, `Hid ${entry.model_name}`));
      onDone();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      open={entry !== null}
      title={tr(`从排行榜隐藏 ${entry?.model_name ?? ""}`, `Hide ${entry?.model_name ?? ""} from the board`)}
      onCancel={onClose}
      onOk={() => void submit()}
      okText={tr("隐藏", "Hide")}
      cancelText={tr("取消", "Cancel")}
      okButtonProps={{ danger: true, loading: busy, ...({ "data-testid": "leaderboard-hide-confirm" } as object) }}
      destroyOnHidden
    >
      <Typography.Paragraph type="secondary">
        {tr("提交者会看到此原因;条目不能再次发布。", "The submitter sees this reason; the entry cannot be published again.")}
      </Typography.Paragraph>
      <Input.TextArea
        rows={3}
        maxLength={500}
        showCount
        value={reason}
        data-testid="leaderboard-hide-reason"
        onChange={(e) => {
          setReason(e.target.value);
          setError(null);
        }}
      />
      {error ? (
        <Typography.Text type="danger" data-testid="form-error">
          {error}
        </Typography.Text>
      ) : null}
    </Modal>
  );
}

/** Admins: the hidden entries of a domain, each with an unhide button. */
export function HiddenEntries({ domain, version, onChange }: { domain: string; version: number; onChange: () => void }) {
  const { tr } = useT();
  const { message } = App.useApp();
  const [rows, setRows] = useState<AdminEntry[]>([]);
  const [loading, setLoading] = useState(false);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      setRows(await api<AdminEntry[]>("GET", `/api/admin/leaderboards/entries?domain=${domain}&status=hidden`));
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setLoading(false);
    }
  }, [domain, message]);

  useEffect(() => {
    void load();
  }, [load, version]);

  const unhide = async (entry: AdminEntry) => {
    try {
      await api("POST", `/api/admin/leaderboards/entries/${entry.id}/unhide`);
      message.success(tr(`已恢复 ${entry.model_name}`, `Restored ${entry.model_name}`));
      await load();
      onChange();
    } catch (e) {
      message.error(errorText(e));
    }
  };

  if (rows.length === 0) return null;
  return (
    <Card size="small" title={tr("已隐藏的条目(仅管理员可见)", "Hidden entries (administrators only)")} style={{ marginTop: 16 }}>
      <Table<AdminEntry>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={false}
        columns={[
          { title: tr("模型", "Model"), dataIndex: "model_name" },
          { title: tr("用户", "User"), dataIndex: "username" },
          { title: tr("方式", "Mode"), dataIndex: "mode" },
          { title: tr("原因", "Reason"), dataIndex: "hidden_reason" },
          {
            title: "",
            key: "actions",
            render: (_: unknown, r) => (
              <Button size="small" data-testid="leaderboard-unhide" onClick={() => void unhide(r)}>
                {tr("恢复", "Unhide")}
              </Button>
            ),
          },
        ]}
      />
    </Card>
  );
}
