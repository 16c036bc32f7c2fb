import { useCallback, useEffect, useMemo, useState, type HTMLAttributes } from "react";
import { Alert, Button, Modal, Radio, Space, Table, Tabs, Tag, Tooltip, Typography } from "antd";
import { MinusSquareOutlined, PlusOutlined, PlusSquareOutlined, ReloadOutlined } from "@ant-design/icons";
import { api, errorText } from "../../api/client";
import { useT } from "../../i18n";
import { RequireAdmin } from "../../auth/guards";
import { DOMAINS, fmtTime, testId, useDomainLabel } from "./common";
import { CardForm, ImportForm, MediaUploadForm } from "./datasetForms";
import type { AdminDataset, Catalog, DatasetVersion } from "./types";

/**
 * Every catalog dataset with its data state (`GET /api/admin/datasets`): built-in entries
 * without data, the demo sets and registered ones. "Attach data" registers a new version
 * (which becomes the current one; older versions stay listed): from the public files through
 * an importer, as a card + JSONL, or — media domains — uploaded with the CLI.
 */
export default function AdminDatasetsPage() {
  return (
    <RequireAdmin>
      <AdminDatasets />
    </RequireAdmin>
  );
}

type Target = { dataset: AdminDataset | null; domain: string };

function AdminDatasets() {
  const { tr } = useT();
  const domainLabel = useDomainLabel();
  const [rows, setRows] = useState<AdminDataset[] | null>(null);
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [domain, setDomain] = useState<string>("all");
  const [target, setTarget] = useState<Target | null>(null);

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      const [list, cat] = await Promise.all([
        api<{ datasets: AdminDataset[] }>("GET", "/api/admin/datasets"),
        api<Catalog>("GET", "/api/catalog"),
      ]);
      setRows(list.datasets);
      setCatalog(cat);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const shown = useMemo(() => (rows ?? []).filter((r) => domain === "all" || r.domain === domain), [rows, domain]);
  const taskName = (d: string, id: string) => catalog?.domains?.[d]?.tasks.find((t) => t.id === id)?.name ?? id;
  // Keep the dialog's row in step with the list after a registration.
  const current = target?.dataset ? rows?.find((r) => r.id === target.dataset?.id) ?? target.dataset : null;

  return (
    <div>
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {tr("数据集管理", "Datasets")}
        </Typography.Title>
        <Space>
          <Button icon={<PlusOutlined />} data-testid="dataset-new" onClick={() => setTarget({ dataset: null, domain: domain === "all" ? "nlp" : domain })}>
            {tr("注册新数据集", "Register a new dataset")}
          </Button>
          <Button icon={<ReloadOutlined />} onClick={() => void load()}>
            {tr("刷新", "Refresh")}
          </Button>
        </Space>
      </Space>
      <Typography.Paragraph type="secondary" style={{ marginTop: 8 }}>
        {tr(
          "目录中的每个数据集及其数据状态。没有数据的数据集不能被选为评测内容;“添加数据”注册一个新版本,它成为当前版本,旧版本保留用于复现与续跑。",
          "Every catalog dataset and its data state. A dataset without data cannot be chosen for an evaluation; \"Attach data\" registers a new version that becomes the current one, older versions stay for reproducibility and resumed runs.",
        )}
      </Typography.Paragraph>
      <Radio.Group value={domain} onChange={(e) => setDomain(e.target.value as string)} optionType="button" style={{ marginBottom: 12 }}>
        {/* The test id on the label's text: antd puts a Radio.Button's own props on its hidden input. */}
        <Radio.Button value="all">
          <span data-testid="datasets-domain-all">{tr("全部", "All")}</span>
        </Radio.Button>
        {DOMAINS.map((d) => (
          <Radio.Button key={d} value={d}>
            <span data-testid={`datasets-domain-${d}`}>{domainLabel(d)}</span>
          </Radio.Button>
        ))}
      </Radio.Group>
      {error ? <Alert type="error" showIcon message={error} data-testid="form-error" style={{ marginBottom: 12 }} /> : null}

      <div data-testid="datasets-table">
        <Table<AdminDataset>
          size="small"
          loading={loading && !rows}
          rowKey={(r) => `${r.domain}/${r.id}`}
          dataSource={shown}
          pagination={{ pageSize: 100, hideOnSinglePage: true }}
          scroll={{ x: "max-content" }}
          onRow={(r) =>
            testId<HTMLAttributes<HTMLElement>>("dataset-row", {
              "data-dataset": r.id,
              "data-domain": r.domain,
              "data-has-data": r.has_data ? "true" : "false",
            })
          }
          expandable={{
            rowExpandable: (r) => r.versions.length > 0,
            expandedRowRender: (r) => <Versions versions={r.versions} />,
            expandIcon: ({ expanded, onExpand, record, expandable }) =>
              expandable ? (
                <Button
                  size="small"
                  type="text"
                  data-testid="dataset-versions-toggle"
                  aria-expanded={expanded}
                  icon={expanded ? <MinusSquareOutlined /> : <PlusSquareOutlined />}
                  onClick={(e) => onExpand(record, e)}
                />
              ) : null,
          }}
          columns={[
            { title: "ID", dataIndex: "id", render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
            { title: tr("名称", "Name"), dataIndex: "name" },
            { title: tr("领域", "Domain"), dataIndex: "domain", render: (d: string) => domainLabel(d) },
            { title: tr("任务", "Task"), key: "task", render: (_: unknown, r) => taskName(r.domain, r.task) },
            {
              title: tr("数据", "Data"),
              key: "has_data",
              render: (_: unknown, r) => (
                <Tag color={r.has_data ? "success" : "default"} data-testid="dataset-has-data" data-has-data={r.has_data ? "true" : "false"}>
                  {r.has_data ? (r.demo ? tr("演示数据", "demo data") : tr("有数据", "has data")) : tr("暂无数据", "no data yet")}
                </Tag>
              ),
            },
            {
              title: tr("当前版本", "Current version"),
              dataIndex: "version",
              render: (v: string | null) => <span data-testid="dataset-version">{v ?? "—"}</span>,
            },
            {
              title: tr("条目数", "Items"),
              dataIndex: "item_count",
              align: "right",
              render: (v: number | null) => <span data-testid="dataset-item-count">{v ?? "—"}</span>,
            },
            {
              title: tr("版本数", "Versions"),
              key: "versions",
              align: "right",
              render: (_: unknown, r) => <span data-testid="dataset-version-count">{r.versions.length}</span>,
            },
            {
              title: tr("来源 / 许可", "Source / license"),
              dataIndex: "source_note",
              width: 320,
              render: (v: string | null) =>
                v ? (
                  <Tooltip title={v}>
                    <Typography.Text type="secondary" ellipsis style={{ maxWidth: 300, display: "inline-block" }}>
                      {v}
                    </Typography.Text>
                  </Tooltip>
                ) : (
                  "—"
                ),
            },
            {
              title: tr("操作", "Actions"),
              key: "actions",
              fixed: "right",
              render: (_: unknown, r) =>
                r.demo ? (
                  <Typography.Text type="secondary">{tr("演示数据不可替换", "demo data: fixed")}</Typography.Text>
                ) : (
                  <Button size="small" data-testid="dataset-attach" onClick={() => setTarget({ dataset: r, domain: r.domain })}>
                    {tr("添加数据", "Attach data")}
                  </Button>
                ),
            },
          ]}
        />
      </div>

      {target ? (
        <AttachDialog
          dataset={current}
          domain={target.domain}
          catalog={catalog}
          onClose={() => setTarget(null)}
          onDone={() => void load()}
        />
      ) : null}
    </div>
  );
}

function Versions({ versions }: { versions: DatasetVersion[] }) {
  const { tr } = useT();
  return (
    <div data-testid="dataset-versions">
    <Table<DatasetVersion>
      size="small"
      rowKey="version"
      pagination={false}
      dataSource={versions}
      onRow={(v) => testId<HTMLAttributes<HTMLElement>>("dataset-version-row", { "data-version": v.version })}
      columns={[
        { title: tr("版本", "Version"), dataIndex: "version" },
        { title: tr("条目数", "Items"), dataIndex: "item_count", align: "right" },
        { title: tr("少样本示例", "Few-shot exemplars"), dataIndex: "dev_count", align: "right", render: (v: number | null | undefined) => v ?? "—" },
        {
          title: tr("内容 sha256", "Content sha256"),
          dataIndex: "content_sha256",
          render: (v: string | null) =>
            v ? (
              <Typography.Text code copyable={{ text: v }}>
                {v.slice(0, 12)}…
              </Typography.Text>
            ) : (
              "—"
            ),
        },
        { title: tr("注册时间", "Registered at"), dataIndex: "registered_at", render: (v: string) => fmtTime(v) },
        { title: tr("注册人", "Registered by"), dataIndex: "registered_by", render: (v: string | null) => <Typography.Text type="secondary">{v ?? "—"}</Typography.Text> },
      ]}
    />
    </div>
  );
}

function AttachDialog({
  dataset,
  domain,
  catalog,
  onClose,
  onDone,
}: {
  dataset: AdminDataset | null;
  domain: string;
  catalog: Catalog | null;
  onClose: () => void;
  onDone: () => void;
}) {
  const { tr } = useT();
  const tasks = catalog?.domains?.[domain]?.tasks ?? [];
  const items = [];
  if (dataset && domain === "nlp") {
    items.push({
      key: "import",
      label: <span data-testid="attach-tab-import">{tr("导入公开文件", "Import public files")}</span>,
      children: <ImportForm dataset={dataset} onDone={onDone} />,
    });
  }
  if (dataset && domain !== "nlp") {
    items.push({
      key: "media",
      label: <span data-testid="attach-tab-media">{tr("上传媒体数据集", "Upload media dataset")}</span>,
      children: <MediaUploadForm dataset={dataset} onDone={onDone} />,
    });
  }
  items.push({
    key: "card",
    label: <span data-testid="attach-tab-card">{tr("卡片 + JSONL", "Card + JSONL")}</span>,
    children: <CardForm dataset={dataset} domain={domain} tasks={tasks} onDone={onDone} />,
  });
  return (
    <Modal
      open
      width={900}
      onCancel={onClose}
      footer={
        <Button data-testid="attach-close" onClick={onClose}>
          {tr("关闭", "Close")}
        </Button>
      }
      title={
        <span data-testid="attach-dialog-title">
          {dataset ? tr(`为 ${dataset.name}(${dataset.id})添加数据`, `Attach data to ${dataset.name} (${dataset.id})`) : tr("注册新数据集", "Register a new dataset")}
        </span>
      }
    >
      <div data-testid="attach-dialog">
        <Tabs items={items} />
      </div>
    </Modal>
  );
}
