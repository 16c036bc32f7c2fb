import { useState } from "react";
import { App, Button, Space, Tooltip } from "antd";
import { api, ApiError, errorText } from "../../api/client";
import type { Evaluation, Run, RunKind } from "../../api/types";
import { useT } from "../../i18n";
import FormalDialog from "./FormalDialog";
import UploadDialog from "./UploadDialog";
import { formatTime } from "../labels";

export interface ActionBarProps {
  evaluation: Evaluation;
  hasValidation: boolean;
  onEdit: () => void;
  onRunStarted: (run: Run) => void;
}

/** Edit · Upload model & code · Validate · Start the formal run. */
export default function ActionBar({ evaluation, hasValidation, onEdit, onRunStarted }: ActionBarProps) {
  const { tr } = useT();
  const { message, modal } = App.useApp();
  const [uploading, setUploading] = useState(false);
  const [formalOpen, setFormalOpen] = useState(false);
  const [busy, setBusy] = useState<RunKind | null>(null);

  const start = async (kind: RunKind) => {
    setBusy(kind);
    try {
      const run = await api<Run>("POST", `/api/evaluations/${evaluation.id}/runs`, { kind });
      message.success(kind === "formal" ? tr("正式推理已提交", "Formal run submitted") : tr("推理验证已提交", "Validation run submitted"));
      setFormalOpen(false);
      onRunStarted(run);
    } catch (e) {
      let text = errorText(e);
      if (e instanceof ApiError && e.code === "quota_exhausted") {
        const d = e.detail as { resets_at?: string };
        text = `${tr("本月正式推理次数已用完,重置时间", "No formal runs left this month; resets at")} ${formatTime(d.resets_at)}`;
      }
      if (e instanceof ApiError && (e.status === 409 || e.status === 422)) {
        modal.error({ title: tr("无法启动", "Cannot start"), content: <span data-testid="form-error">{text}</span> });
      } else {
        message.error(text);
      }
    } finally {
      setBusy(null);
    }
  };

  const validateBtn = (
    <Button data-testid="btn-validate" disabled={!hasValidation} loading={busy === "validation"} onClick={() => void start("validation")}>
      {tr("推理验证", "Validate")}
    </Button>
  );

  return (
    <Space wrap>
      <Button data-testid="btn-edit" onClick={onEdit}>
        {tr("编辑", "Edit")}
      </Button>
      {evaluation.deploy_mode === "private" ? (
        <Button data-testid="btn-upload" onClick={() => setUploading(true)}>
          {tr("上传模型 & 代码", "Upload model & code")}
        </Button>
      ) : (
        <Tooltip title={tr("API 评测无需上传模型", "API evaluations upload no model")}>
          <span>
            <Button data-testid="btn-upload" disabled>
              {tr("上传模型 & 代码", "Upload model & code")}
            </Button>
          </span>
        </Tooltip>
      )}
      {hasValidation ? (
        validateBtn
      ) : (
        <Tooltip title={tr("该领域不支持推理验证,请直接启动正式评测", "This domain has no validation run; start the formal run")}>
          <span>{validateBtn}</span>
        </Tooltip>
      )}
      <Button type="primary" data-testid="btn-formal" onClick={() => setFormalOpen(true)}>
        {tr("启动推理评测", "Start formal run")}
      </Button>
      <UploadDialog evaluationId={evaluation.id} open={uploading} onClose={() => setUploading(false)} />
      <FormalDialog open={formalOpen} busy={busy === "formal"} onCancel={() => setFormalOpen(false)} onConfirm={() => void start("formal")} />
    </Space>
  );
}
