import { useEffect, useMemo, useState } from "react";
import { Alert, Empty, Progress, Space, Table, Tag, Typography } from "antd";
import type { ColumnsType } from "antd/es/table";
import { apiText } from "../../api/client";
import { isActive, type DatasetProgress, type Run, type Sample } from "../../api/types";
import { useT } from "../../i18n";
import EChart from "../../components/EChart";
import StatusTag from "../../components/StatusTag";
import { usePolling } from "../../components/usePolling";
import { rowProps } from "../../components/rowProps";
import { formatDuration, formatTime } from "../labels";

export function SamplesTab({ run }: { run: Run }) {
  const { tr } = useT();
  const columns: ColumnsType<Sample> = [
    { title: "ID", dataIndex: "id", width: 90 },
    { title: "Dataset", dataIndex: "dataset", width: 140 },
    { title: "Sample", dataIndex: "sample", render: (s: string) => <Typography.Paragraph ellipsis={{ rows: 4, expandable: true }} style={{ margin: 0 }}>{s}</Typography.Paragraph> },
    { title: "Label", dataIndex: "label", width: 140 },
    { title: "Predict", dataIndex: "predict", render: (s: string) => <Typography.Paragraph ellipsis={{ rows: 4, expandable: true }} style={{ margin: 0 }}>{s}</Typography.Paragraph> },
  ];
  return (
    <div data-testid="samples-table">
      {run.kind !== "validation" && <Alert style={{ marginBottom: 8 }} type="info" message={tr("推理验证样例仅在推理验证中提供", "Samples come with validation runs")} />}
      <Table<Sample>
        size="small"
        rowKey={(s) => `${s.dataset}/${s.id}`}
        columns={columns}
        dataSource={run.samples ?? []}
        pagination={false}
        onRow={(s) => rowProps({ "data-testid": "sample-row", "data-dataset": s.dataset })}
      />
    </div>
  );
}

function percentOf(d: DatasetProgress): number {
  if (d.status === "succeeded" || d.status === "failed") return 100;
  if (d.status === "running") return 50;
  return 0;
}

const PROGRESS_STATUS: Record<DatasetProgress["status"], "normal" | "active" | "success" | "exception"> = {
  pending: "normal",
  running: "active",
  succeeded: "success",
  failed: "exception",
  skipped: "normal",
};

export function ProgressTab({ run }: { run: Run }) {
  const { tr, lang } = useT();
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Text type="secondary">
        {tr("提交时间", "Submitted")}: {formatTime(run.created_at)}
        {run.started_at ? ` · ${tr("开始", "started")} ${formatTime(run.started_at)}` : ""}
        {run.finished_at ? ` · ${tr("结束", "finished")} ${formatTime(run.finished_at)}` : ""}
      </Typography.Text>
      {run.status === "queued" && run.queue && (
        <Alert
          type="info"
          data-testid="queue-info"
          message={`${tr("排队位置", "Queue position")}: ${run.queue.position}${run.queue.eta_seconds != null ? ` · ${tr("预计等待", "ETA")} ${formatDuration(run.queue.eta_seconds, lang)}` : ""}`}
        />
      )}
      {run.datasets.length === 0 && <Empty />}
      {run.datasets.map((d) => (
        <div key={`${d.task}/${d.dataset}`} data-testid="progress-row" data-dataset={d.dataset} data-status={d.status} style={{ borderBottom: "1px solid #f0f0f0", paddingBottom: 8 }}>
          <Space wrap>
            <Tag>{d.task}</Tag>
            <Typography.Text strong>{d.dataset}</Typography.Text>
            <StatusTag status={d.status} />
            <Typography.Text type="secondary">
              {formatTime(d.started_at)}
              {d.finished_at ? ` → ${formatTime(d.finished_at)}` : ""}
            </Typography.Text>
          </Space>
          <Progress percent={percentOf(d)} status={PROGRESS_STATUS[d.status]} showInfo={false} size="small" />
          {d.error && <Typography.Text type="danger">{d.error}</Typography.Text>}
        </div>
      ))}
    </Space>
  );
}

interface MetricRow {
  key: string;
  task: string;
  dataset: string;
  average: boolean;
  metrics: Record<string, number>;
}

const fmt = (v: number | undefined) => (v == null ? "—" : Number.isInteger(v) ? String(v) : v.toFixed(4));

export function MetricsTab({ run }: { run: Run }) {
  const { tr } = useT();
  const rows = useMemo<MetricRow[]>(() => {
    const out: MetricRow[] = run.datasets
      .filter((d) => d.metrics && Object.keys(d.metrics).length)
      .map((d) => ({ key: `${d.task}/${d.dataset}`, task: d.task, dataset: d.dataset, average: false, metrics: d.metrics ?? {} }));
    for (const [task, metrics] of Object.entries(run.task_averages ?? {})) {
      out.push({ key: `avg/${task}`, task, dataset: tr("任务平均", "task average"), average: true, metrics });
    }
    return out;
  }, [run, tr]);
  // Per-subject scores ("accuracy/anatomy", up to 128 for MMLU-style datasets) are not columns:
  // each dataset row expands to list its own.
  const metricNames = useMemo(
    () => Array.from(new Set(rows.flatMap((r) => Object.keys(r.metrics).filter((m) => !isSubjectMetric(m))))),
    [rows],
  );
  const datasetRows = rows.filter((r) => !r.average);
  const option = useMemo(
    () => ({
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 16, bottom: 48, top: 32 },
      xAxis: { type: "category", data: datasetRows.map((r) => r.dataset), axisLabel: { rotate: datasetRows.length > 4 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: metricNames.map((m) => ({ name: m, type: "bar", data: datasetRows.map((r) => r.metrics[m] ?? null) })),
    }),
    [datasetRows, metricNames],
  );
  const columns: ColumnsType<MetricRow> = [
    { title: tr("任务", "Task"), dataIndex: "task" },
    { title: tr("数据集", "Dataset"), dataIndex: "dataset", render: (d: string, r) => (r.average ? <Typography.Text strong>{d}</Typography.Text> : d) },
    ...metricNames.map((m) => ({ title: m, key: m, render: (_: unknown, r: MetricRow) => fmt(r.metrics[m]) })),
  ];
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <div data-testid="metrics-table">
        <Table<MetricRow>
          size="small"
          columns={columns}
          dataSource={rows}
          pagination={false}
          scroll={{ x: "max-content" }}
          expandable={{
            rowExpandable: (r) => !r.average && Object.keys(r.metrics).some(isSubjectMetric),
            expandedRowRender: (r) => <SubjectScores metrics={r.metrics} />,
          }}
          onRow={(r) => rowProps({ "data-testid": r.average ? "metrics-average-row" : "metrics-row", "data-dataset": r.average ? undefined : r.dataset, "data-task": r.task })}
        />
      </div>
      {datasetRows.length > 0 ? <EChart testId="metrics-chart" option={option} height={300} /> : <div data-testid="metrics-chart"><Empty /></div>}
    </Space>
  );
}

const isSubjectMetric = (name: string) => name.includes("/");

/** A dataset's per-subject scores (``metric/subject``), one row per subject. */
function SubjectScores({ metrics }: { metrics: Record<string, number> }) {
  const { tr } = useT();
  const data = Object.entries(metrics)
    .filter(([name]) => isSubjectMetric(name))
    .map(([name, value]) => {
      const [metric, subject] = name.split("/", 2);
      return { key: name, metric, subject, value };
    })
    .sort((a, b) => a.subject.localeCompare(b.subject));
  return (
    <div data-testid="subject-scores">
      <Table
        size="small"
        pagination={false}
        dataSource={data}
        columns={[
          { title: tr("科目", "Subject"), dataIndex: "subject" },
          { title: tr("指标", "Metric"), dataIndex: "metric" },
          { title: tr("得分", "Score"), dataIndex: "value", render: (v: number) => fmt(v) },
        ]}
        onRow={(r) => rowProps({ "data-testid": "subject-score-row", "data-subject": r.subject })}
      />
    </div>
  );
}

export function LogsTab({ run }: { run: Run }) {
  const { tr } = useT();
  const [text, setText] = useState<string>("");
  const [error, setError] = useState<string | null>(null);
  const active = isActive(run.status);
  const load = async () => {
    try {
      setText(await apiText("GET", `/api/runs/${run.id}/logs?tail=500`));
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  // Read once per run and status change; every 3 s while the run is active.
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [run.id, run.status]);
  usePolling(load, 3000, active, [run.id]);
  return (
    <>
      {error && <Alert type="warning" message={error} style={{ marginBottom: 8 }} />}
      <pre
        data-testid="logs-view"
        data-active={active ? "true" : "false"}
        style={{ fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", fontSize: 12, background: "#111", color: "#ddd", padding: 12, maxHeight: 480, overflow: "auto", whiteSpace: "pre-wrap", margin: 0 }}
      >
        {text || tr("(暂无日志)", "(no logs yet)")}
      </pre>
    </>
  );
}
