import { useEffect, useState } from "react";
import { Alert, Modal, Spin, Typography } from "antd";
import { api, errorText } from "../../api/client";
import type { Quota } from "../../api/types";
import { useT } from "../../i18n";
import { formatTime } from "../labels";

export interface FormalDialogProps {
  open: boolean;
  busy: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}

/** Confirms a formal run, showing this month's remaining formal runs. */
export default function FormalDialog({ open, busy, onCancel, onConfirm }: FormalDialogProps) {
  const { tr } = useT();
  const [quota, setQuota] = useState<Quota | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!open) return;
    setQuota(null);
    setError(null);
    api<Quota>("GET", "/api/me/quota").then(setQuota).catch((e: unknown) => setError(errorText(e)));
  }, [open]);
  const remaining = quota?.formal_runs.remaining;
  return (
    <Modal
      open={open}
      title={tr("启动推理评测", "Start the formal run")}
      onCancel={onCancel}
      onOk={onConfirm}
      okText={tr("确认启动", "Start")}
      okButtonProps={{ loading: busy, disabled: remaining === 0, ...{ "data-testid": "confirm-formal" } }}
    >
      <Typography.Paragraph>
        {tr(
          "正式推理评测将持续数个小时,每个用户每月有 5 次机会;结束后会发送通知。",
          "A formal run may take hours; each user has 5 per month. You will be notified when it ends.",
        )}
      </Typography.Paragraph>
      {error && <Alert type="error" message={error} />}
      {!quota && !error && <Spin />}
      {quota && (
        <Alert
          type={remaining === 0 ? "error" : "info"}
          message={
            <>
              {tr("本月剩余次数", "Formal runs left this month")}:{" "}
              <Typography.Text strong data-testid="quota-remaining">{quota.formal_runs.remaining}</Typography.Text> / {quota.formal_runs.limit}
              {" · "}
              {tr("重置时间", "resets at")} <span data-testid="quota-resets-at">{formatTime(quota.formal_runs.resets_at)}</span>
            </>
          }
        />
      )}
    </Modal>
  );
}
