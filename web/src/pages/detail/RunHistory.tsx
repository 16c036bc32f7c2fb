import { App, Button, Card, Table } from "antd";
import type { ColumnsType } from "antd/es/table";
import { api, errorText } from "../../api/client";
import { isActive, type RunSummary } from "../../api/types";
import { useT } from "../../i18n";
import StatusTag, { useStatusLabel } from "../../components/StatusTag";
import { rowProps } from "../../components/rowProps";
import { formatTime } from "../labels";

export interface RunHistoryProps {
  runs: RunSummary[];
  loading: boolean;
  selectedId: string | null;
  onSelect: (id: string) => void;
  onChanged: () => void;
}

/** Version history (bottom left): one `run-row` per run, Stop for active runs. */
export default function RunHistory({ runs, loading, selectedId, onSelect, onChanged }: RunHistoryProps) {
  const { tr } = useT();
  const label = useStatusLabel();
  const { message } = App.useApp();
  const stop = async (r: RunSummary) => {
    try {
      await api("POST", `/api/runs/${r.id}/stop`);
      message.success(tr("已请求停止", "Stop requested"));
      onChanged();
    } catch (e) {
      message.error(errorText(e));
    }
  };
  const columns: ColumnsType<RunSummary> = [
    { title: tr("版本", "Version"), dataIndex: "version", width: 70, render: (v: number) => `v${v}` },
    { title: tr("任务类型", "Kind"), dataIndex: "kind", render: (k: string) => label(k) },
    { title: tr("状态", "Status"), dataIndex: "status", render: (s: string) => <StatusTag status={s} /> },
    { title: tr("提交人", "Submitter"), dataIndex: "submitter" },
    { title: tr("时间", "Created"), dataIndex: "created_at", render: (t: string) => formatTime(t) },
    {
      title: tr("操作", "Action"),
      render: (_, r) =>
        isActive(r.status) ? (
          <Button
            size="small"
            danger
            data-testid="run-stop"
            onClick={(ev) => {
              ev.stopPropagation();
              void stop(r);
            }}
          >
            {tr("停止", "Stop")}
          </Button>
        ) : null,
    },
  ];
  return (
    <Card size="small" title={tr("版本历史", "Version history")}>
      <Table<RunSummary>
        size="small"
        rowKey="id"
        loading={loading && runs.length === 0}
        columns={columns}
        dataSource={runs}
        pagination={{ pageSize: 10, hideOnSinglePage: true }}
        rowClassName={(r) => (r.id === selectedId ? "ant-table-row-selected" : "")}
        onRow={(r) =>
          rowProps(
            { "data-testid": "run-row", "data-version": r.version, "data-status": r.status, "data-kind": r.kind, "data-id": r.id },
            { onClick: () => onSelect(r.id), style: { cursor: "pointer" } },
          )
        }
      />
    </Card>
  );
}
