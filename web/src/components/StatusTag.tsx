import { Tag } from "antd";
import { useT } from "../i18n";

const COLORS: Record<string, string> = {
  queued: "default",
  pending: "default",
  starting: "processing",
  running: "processing",
  uploading: "processing",
  complete: "blue",
  succeeded: "success",
  valid: "success",
  approved: "success",
  imported: "success",
  failed: "error",
  invalid: "error",
  rejected: "error",
  stopped: "warning",
  skipped: "warning",
  pending_review: "gold",
  registered: "default",
};

const ZH: Record<string, string> = {
  queued: "排队中",
  pending: "等待",
  starting: "启动中",
  running: "运行中",
  uploading: "上传中",
  complete: "已上传",
  succeeded: "成功",
  valid: "校验通过",
  approved: "已通过",
  imported: "已导入",
  failed: "失败",
  invalid: "校验失败",
  rejected: "已拒绝",
  stopped: "已停止",
  skipped: "已跳过",
  pending_review: "待审核",
  registered: "已注册",
  validation: "推理验证",
  formal: "正式推理",
};

export function useStatusLabel(): (s: string) => string {
  const { lang } = useT();
  return (s) => (lang === "zh" ? ZH[s] ?? s : s.replace(/_/g, " "));
}

/** A colored tag for any run/dataset/bundle/user status; `data-status` holds the raw value. */
export default function StatusTag({ status, testId }: { status: string; testId?: string }) {
  const label = useStatusLabel();
  return (
    <Tag color={COLORS[status] ?? "default"} data-status={status} data-testid={testId}>
      {label(status)}
    </Tag>
  );
}
