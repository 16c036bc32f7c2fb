import type { HTMLAttributes } from "react";
import { Descriptions, Empty, Table, Typography } from "antd";
import { useT } from "../../i18n";
import type { BoardRow, ReproDataset } from "../../pages/extra/types";

const { Text } = Typography;

function mono(value: unknown) {
  if (value === null || value === undefined || value === "") return <Text type="secondary">—</Text>;
  return (
    <Text code copyable style={{ wordBreak: "break-all" }}>
      {String(value)}
    </Text>
  );
}

function paramValue(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The reproducibility card of a leaderboard entry (SPEC §2 Leaderboard submission). */
export function ReproCard({ row }: { row: BoardRow }) {
  const { tr } = useT();
  const repro = row.reproducibility ?? {};
  const datasets: ReproDataset[] = Array.isArray(repro.datasets) ? repro.datasets : [];
  const generation =
    repro.generation && typeof repro.generation === "object" ? Object.entries(repro.generation) : [];
  const known = new Set(["bundle_sha256", "image", "datasets", "generation", "platform_version", "finished_at"]);
  const extras = Object.entries(repro).filter(([k]) => !known.has(k));

  return (
    <div data-testid="repro-card">
      <Descriptions column={1} size="small" bordered>
        <Descriptions.Item label={tr("模型", "Model")}>{row.model_name}</Descriptions.Item>
        <Descriptions.Item label={tr("模型包 SHA256", "Bundle sha256")}>
          <span data-testid="repro-bundle-sha256">{mono(repro.bundle_sha256)}</span>
        </Descriptions.Item>
        <Descriptions.Item label={tr("镜像", "Image")}>
          <span data-testid="repro-image">{mono(repro.image)}</span>
        </Descriptions.Item>
        <Descriptions.Item label={tr("平台版本", "Platform version")}>
          <span data-testid="repro-platform-version">{mono(repro.platform_version)}</span>
        </Descriptions.Item>
        {repro.finished_at ? (
          <Descriptions.Item label={tr("完成时间", "Finished at")}>{String(repro.finished_at)}</Descriptions.Item>
        ) : null}
        {extras.map(([k, v]) => (
          <Descriptions.Item key={k} label={k}>
            {paramValue(v)}
          </Descriptions.Item>
        ))}
      </Descriptions>

      <Typography.Title level={5} style={{ marginTop: 16 }}>
        {tr("数据集版本", "Dataset versions")}
      </Typography.Title>
      <Table<ReproDataset>
        size="small"
        rowKey={(d) => `${d.task ?? ""}/${d.dataset}`}
        pagination={false}
        dataSource={datasets}
        locale={{ emptyText: <Empty description={tr("无", "None")} /> }}
        onRow={() => ({ "data-testid": "repro-dataset" }) as HTMLAttributes<HTMLElement>}
        columns={[
          { title: tr("任务", "Task"), dataIndex: "task", render: (v) => v ?? "—" },
          { title: tr("数据集", "Dataset"), dataIndex: "dataset" },
          { title: tr("版本", "Version"), dataIndex: "version", render: (v) => v ?? "—" },
          {
            title: tr("内容哈希", "Hash (sha256)"),
            dataIndex: "sha256",
            render: (v) =>
              v ? (
                <Text code copyable={{ text: String(v) }} style={{ fontSize: 12 }}>
                  {String(v).slice(0, 16)}…
                </Text>
              ) : (
                "—"
              ),
          },
        ]}
      />

      <Typography.Title level={5} style={{ marginTop: 16 }}>
        {tr("生成参数", "Generation parameters")}
      </Typography.Title>
      {generation.length === 0 ? (
        <Text type="secondary">{tr("无", "None")}</Text>
      ) : (
        <Descriptions column={1} size="small" bordered data-testid="repro-generation">
          {generation.map(([k, v]) => (
            <Descriptions.Item key={k} label={k}>
              <Text code>{paramValue(v)}</Text>
            </Descriptions.Item>
          ))}
        </Descriptions>
      )}
    </div>
  );
}
