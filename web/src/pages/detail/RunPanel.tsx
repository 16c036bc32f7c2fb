import { useState } from "react";
import { Alert, Button, Card, Empty, Space, Spin, Steps, Tabs, Typography } from "antd";
import { api } from "../../api/client";
import { isActive, type Domain, type Run } from "../../api/types";
import { useT } from "../../i18n";
import StatusTag, { useStatusLabel } from "../../components/StatusTag";
import { usePolling } from "../../components/usePolling";
import PublishDialog from "./PublishDialog";
import { SubmissionState } from "../../components/extra/SubmissionState";
import { LogsTab, MetricsTab, ProgressTab, SamplesTab } from "./tabs";

const FLOW = ["queued", "starting", "running", "succeeded"] as const;

function RunSteps({ run }: { run: Run }) {
  const label = useStatusLabel();
  const terminalBad = run.status === "failed" || run.status === "stopped";
  const idx = terminalBad ? Math.max(FLOW.indexOf(run.started_at ? "running" : "queued"), 0) : FLOW.indexOf(run.status as (typeof FLOW)[number]);
  return (
    <Steps
      size="small"
      current={idx}
      status={terminalBad ? "error" : run.status === "succeeded" ? "finish" : "process"}
      items={FLOW.map((s, i) => ({ title: terminalBad && i === idx ? label(run.status) : label(s) }))}
    />
  );
}

function FailureAlert({ run }: { run: Run }) {
  const { tr } = useT();
  if (!run.failure) return null;
  const causes: Record<string, string> = {
    user: tr("用户模型问题", "user (the model or bundle)"),
    platform: tr("平台故障(已退还次数)", "platform fault (quota refunded)"),
    preempted: tr("被抢占(已退还次数)", "preempted (quota refunded)"),
  };
  return (
    <Alert
      type="error"
      showIcon
      data-testid="run-failure"
      data-cause={run.failure.cause}
      message={`${tr("失败原因", "Failure cause")}: ${causes[run.failure.cause] ?? run.failure.cause}`}
      description={<Typography.Text style={{ whiteSpace: "pre-wrap" }}>{run.failure.message}</Typography.Text>}
    />
  );
}

/** The selected run (bottom right): status, failure, publish, and the four tabs. Polls every 2 s while active. */
export default function RunPanel({ runId, domain, onStatusChange }: { runId: string | null; domain: Domain; onStatusChange: () => void }) {
  const { tr } = useT();
  const label = useStatusLabel();
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [publishing, setPublishing] = useState(false);
  const active = run ? isActive(run.status) : true;

  usePolling(
    async () => {
      if (!runId) return;
      try {
        const r = await api<Run>("GET", `/api/runs/${runId}`);
        setRun((prev) => {
          if (prev && prev.id === r.id && prev.status !== r.status) onStatusChange();
          return r;
        });
        setError(null);
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
      }
    },
    2000,
    !!runId && (active || run?.id !== runId),
    [runId],
  );

  if (!runId) return <Card size="small"><Empty description={tr("选择左侧的一个版本", "Select a version on the left")} /></Card>;
  if (!run || run.id !== runId) return <Card size="small">{error ? <Alert type="error" message={error} /> : <Spin />}</Card>;

  const canPublish = run.kind === "formal" && run.status === "succeeded";
  return (
    <Card
      size="small"
      title={
        <Space>
          <span>v{run.version} · {label(run.kind)}</span>
          <StatusTag status={run.status} testId="run-status" />
        </Space>
      }
      extra={
        canPublish && (
          <Space>
            <SubmissionState runId={run.id} refreshKey={publishing ? 0 : 1} />
            <Button type="primary" data-testid="btn-publish" onClick={() => setPublishing(true)}>
              {tr("提交到排行榜", "Publish")}
            </Button>
          </Space>
        )
      }
    >
      <Space direction="vertical" style={{ width: "100%" }}>
        <RunSteps run={run} />
        <FailureAlert run={run} />
        <Tabs
          defaultActiveKey={run.kind === "validation" ? "validation" : "progress"}
          items={[
            { key: "validation", label: <span data-testid="tab-validation">{tr("推理验证", "Validation")}</span>, children: <SamplesTab run={run} /> },
            { key: "progress", label: <span data-testid="tab-progress">{tr("推理进度", "Progress")}</span>, children: <ProgressTab run={run} /> },
            { key: "metrics", label: <span data-testid="tab-metrics">{tr("指标详情", "Metrics")}</span>, children: <MetricsTab run={run} /> },
            { key: "logs", label: <span data-testid="tab-logs">{tr("日志", "Logs")}</span>, children: <LogsTab run={run} /> },
          ]}
        />
      </Space>
      <PublishDialog runId={run.id} domain={domain} open={publishing} onClose={() => setPublishing(false)} />
    </Card>
  );
}
