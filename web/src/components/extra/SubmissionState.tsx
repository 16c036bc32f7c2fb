import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { Alert, App, Button, Popconfirm, Space, Tag, Typography } from "antd";
import { api, errorText } from "../../api/client";
import { useT } from "../../i18n";

/** `GET /api/runs/{id}/submissions` (the owner's view of a run's leaderboard entry). */
export interface SubmissionView {
  run_id: string;
  status: "not_submitted" | "published" | "withdrawn" | "hidden";
  can_publish: boolean;
  why_not: string | null;
  entry_id: string | null;
  domain: string | null;
  mode: "named" | "anonymous" | null;
  submitted_at: string | null;
  withdrawn_at: string | null;
  hidden_at: string | null;
  hidden_reason: string | null;
}

/**
 * A run's leaderboard state for its owner: published (named/anonymous, link to the board,
 * withdraw), withdrawn, or hidden by an administrator with the reason. Renders nothing for a
 * run that is not submitted. Meant for the evaluation detail page, beside `btn-publish`;
 * `refreshKey` re-reads it (e.g. after publishing). `data-testid="submission-state"` with the
 * raw status in `data-status`; withdraw is `submission-withdraw`.
 */
export function SubmissionState({
  runId,
  refreshKey = 0,
  onChange,
}: {
  runId: string;
  refreshKey?: number;
  onChange?: (view: SubmissionView) => void;
}) {
  const { tr } = useT();
  const { message } = App.useApp();
  const [view, setView] = useState<SubmissionView | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const v = await api<SubmissionView>("GET", `/api/runs/${runId}/submissions`);
      setView(v);
      onChange?.(v);
    } catch {
      setView(null);
    }
    // onChange is a callback prop; re-reading on its identity change is not wanted.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runId]);

  useEffect(() => {
    void load();
  }, [load, refreshKey]);

  const withdraw = async () => {
    setBusy(true);
    try {
      const v = await api<SubmissionView>("DELETE", `/api/runs/${runId}/submissions`);
      setView(v);
      onChange?.(v);
      message.success(tr("已从排行榜撤回", "Withdrawn from the leaderboard"));
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  if (!view || view.status === "not_submitted") return null;
  const mode = view.mode === "anonymous" ? tr("匿名", "anonymous") : tr("实名", "named");
  return (
    <div data-testid="submission-state" data-status={view.status}>
      {view.status === "published" ? (
        <Space wrap>
          <Tag color="green">{tr("已发布到排行榜", "On the leaderboard")}</Tag>
          <Typography.Text type="secondary">{mode}</Typography.Text>
          {view.domain ? <Link to={`/leaderboards/${view.domain}`}>{tr("查看排行榜", "View board")}</Link> : null}
          <Popconfirm
            title={tr("从排行榜撤回该条目?", "Withdraw this entry from the board?")}
            onConfirm={() => void withdraw()}
            okText={tr("撤回", "Withdraw")}
            cancelText={tr("取消", "Cancel")}
          >
            <Button size="small" loading={busy} data-testid="submission-withdraw">
              {tr("撤回", "Withdraw")}
            </Button>
          </Popconfirm>
        </Space>
      ) : view.status === "withdrawn" ? (
        <Tag>{tr("已撤回(可重新发布)", "Withdrawn (can be published again)")}</Tag>
      ) : (
        <Alert
          type="warning"
          showIcon
          message={tr("管理员已从排行榜隐藏该条目", "An administrator hid this entry from the board")}
          description={view.hidden_reason ?? undefined}
        />
      )}
    </div>
  );
}

export default SubmissionState;
