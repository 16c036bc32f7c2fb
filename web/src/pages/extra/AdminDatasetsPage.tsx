import { useCallback, useEffect, useMemo, useRef, useState, type HTMLAttributes } from "react";
import { Alert, Button, Card, Col, Descriptions, Form, Input, Radio, Row, Select, Space, Table, Tag, Typography, App } from "antd";
import { ReloadOutlined, UploadOutlined } from "@ant-design/icons";
import { ApiError, api, errorText } from "../../api/client";
import { useT } from "../../i18n";
import { RequireAdmin } from "../../auth/guards";
import { DOMAINS, testId, useDomainLabel } from "./common";
import type { Catalog, CatalogDataset, DatasetProblem, RegisteredDatasetReply } from "./types";

interface RegisteredRow extends CatalogDataset {
  domain: string;
}

function cardTemplate(domain: string): string {
  return JSON.stringify(
    {
      name: "my-dataset",
      domain,
      task: "choice_qa",
      language: "en",
      metric: "accuracy",
      few_shot: 0,
      version: "v1",
      description: "",
    },
    null,
    2,
  );
}

/** Problems from a 422/413 reply: a list of `{source, field|line, message}`. */
function problemsOf(e: unknown): DatasetProblem[] | null {
  if (!(e instanceof ApiError) || !Array.isArray(e.detail)) return null;
  return e.detail.map((d) => {
    const item = d as Record<string, unknown>;
    if (typeof item.source === "string") {
      return {
        source: item.source as DatasetProblem["source"],
        field: (item.field as string | null | undefined) ?? null,
        line: (item.line as number | null | undefined) ?? null,
        message: String(item.message ?? ""),
      };
    }
    // A plain validation error (e.g. from the framework): where + msg.
    const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : null;
    return { source: "form", field: loc, line: null, message: String(item.msg ?? item.message ?? "") };
  });
}

export default function AdminDatasetsPage() {
  return (
    <RequireAdmin>
      <AdminDatasets />
    </RequireAdmin>
  );
}

function AdminDatasets() {
  const { message } = App.useApp();
  const { tr } = useT();
  const domainLabel = useDomainLabel();
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [catalogError, setCatalogError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  const [domain, setDomain] = useState<string>("nlp");
  const [catalogTask, setCatalogTask] = useState<string | undefined>(undefined);
  const [card, setCard] = useState<string>(() => cardTemplate("nlp"));
  const [dataFile, setDataFile] = useState<File | null>(null);
  const dataInput = useRef<HTMLInputElement>(null);
  const cardInput = useRef<HTMLInputElement>(null);

  const [submitting, setSubmitting] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [problems, setProblems] = useState<DatasetProblem[] | null>(null);
  const [result, setResult] = useState<RegisteredDatasetReply | null>(null);

  const loadCatalog = useCallback(async () => {
    setLoading(true);
    setCatalogError(null);
    try {
      setCatalog(await api<Catalog>("GET", "/api/catalog"));
    } catch (e) {
      setCatalogError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void loadCatalog();
  }, [loadCatalog]);

  const tasks = catalog?.domains?.[domain]?.tasks ?? [];

  // Keep the domain in step with the card's "domain" while the card parses.
  const cardParse = useMemo<{ ok: boolean; error?: string; domain?: string }>(() => {
    try {
      const parsed = JSON.parse(card) as unknown;
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        return { ok: false, error: tr("卡片必须是 JSON 对象", "The card must be a JSON object") };
      }
      const d = (parsed as Record<string, unknown>).domain;
      return { ok: true, domain: typeof d === "string" ? d : undefined };
    } catch (e) {
      return { ok: false, error: `${tr("JSON 格式错误:", "Invalid JSON: ")}${(e as Error).message}` };
    }
  }, [card, tr]);

  useEffect(() => {
    if (cardParse.domain && (DOMAINS as readonly string[]).includes(cardParse.domain) && cardParse.domain !== domain) {
      setDomain(cardParse.domain);
    }
    // Only follow the card; choosing a domain rewrites the card itself.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [cardParse.domain]);

  useEffect(() => {
    if (catalogTask && !tasks.some((t) => t.id === catalogTask)) setCatalogTask(undefined);
  }, [tasks, catalogTask]);

  const chooseDomain = (d: string) => {
    setDomain(d);
    // Write the domain into the card when it parses, so both agree.
    try {
      const parsed = JSON.parse(card) as Record<string, unknown>;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        setCard(JSON.stringify({ ...parsed, domain: d }, null, 2));
      }
    } catch {
      /* leave a card that does not parse alone */
    }
  };

  const registered = useMemo<RegisteredRow[]>(() => {
    const rows: RegisteredRow[] = [];
    for (const [d, dc] of Object.entries(catalog?.domains ?? {})) {
      for (const ds of dc.datasets ?? []) if (ds.registered) rows.push({ ...ds, domain: d });
    }
    return rows;
  }, [catalog]);

  const taskName = (d: string, id: string) => catalog?.domains?.[d]?.tasks.find((t) => t.id === id)?.name ?? id;

  const submit = async () => {
    setFormError(null);
    setProblems(null);
    setResult(null);
    if (!cardParse.ok) {
      setFormError(cardParse.error ?? tr("卡片无效", "Invalid card"));
      return;
    }
    if (!dataFile) {
      setFormError(tr("请选择 JSONL 数据文件", "Choose the JSONL data file"));
      return;
    }
    if (!catalogTask) {
      setFormError(tr("请选择目录任务", "Choose the catalog task"));
      return;
    }
    const fd = new FormData();
    fd.append("card", new Blob([card], { type: "application/json" }), "card.json");
    fd.append("data", dataFile, dataFile.name || "data.jsonl");
    fd.append("catalog_task", catalogTask);
    setSubmitting(true);
    try {
      const reply = await api<RegisteredDatasetReply>("POST", "/api/admin/datasets", fd);
      setResult(reply);
      message.success(tr(`已注册数据集 ${reply.id} ${reply.version}`, `Registered ${reply.id} ${reply.version}`));
      void loadCatalog();
    } catch (e) {
      const list = problemsOf(e);
      if (list && list.length) {
        setProblems(list);
        setFormError(
          e instanceof ApiError && e.status === 413
            ? tr("文件过大", "Too large")
            : tr(`数据集未通过检查,共 ${list.length} 个问题,未保存任何内容`, `The dataset was rejected (${list.length} problems); nothing was stored`),
        );
      } else {
        setFormError(errorText(e));
      }
    } finally {
      setSubmitting(false);
    }
  };

  const readCardFile = async (file: File | undefined) => {
    if (!file) return;
    setCard(await file.text());
  };

  return (
    <div>
      <Space style={{ width: "100%", justifyContent: "space-between" }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {tr("数据集注册", "Dataset registration")}
        </Typography.Title>
        <Button icon={<ReloadOutlined />} onClick={() => void loadCatalog()}>
          {tr("刷新", "Refresh")}
        </Button>
      </Space>
      {catalogError ? <Alert type="error" showIcon message={catalogError} style={{ marginTop: 16 }} /> : null}

      <Card size="small" title={tr("注册数据集或新版本", "Register a dataset or a new version")} style={{ marginTop: 16 }}>
        <Typography.Paragraph type="secondary">
          {tr(
            "卡片 JSON 字段:name(即数据集 ID,[a-z0-9-])、domain、task(choice_qa / classification / generative_qa / math / open_qa)、language、metric、few_shot、version,可选 prompt_template、description。数据为 JSONL:每行 id、input,可选 choices、label、references;\"split\": \"dev\" 表示少样本示例。同名同版本会被拒绝;新版本成为当前版本。",
            "Card fields: name (the dataset id, [a-z0-9-]), domain, task (choice_qa / classification / generative_qa / math / open_qa), language, metric, few_shot, version, optional prompt_template and description. Data is JSONL: id, input, optional choices, label, references per line; \"split\": \"dev\" marks few-shot exemplars. The same name and version again is refused; a new version becomes the current one.",
          )}
        </Typography.Paragraph>
        <Form layout="vertical" onFinish={() => void submit()} disabled={submitting}>
          <Row gutter={24}>
            <Col xs={24} lg={12}>
              <Form.Item label={tr("领域", "Domain")} required>
                <Radio.Group value={domain} onChange={(e) => chooseDomain(e.target.value as string)} optionType="button">
                  {DOMAINS.map((d) => (
                    <Radio.Button key={d} value={d} data-testid={`dataset-domain-${d}`}>
                      {domainLabel(d)}
                    </Radio.Button>
                  ))}
                </Radio.Group>
              </Form.Item>
              <Form.Item
                label={tr("目录任务", "Catalog task")}
                required
                extra={tr("数据集加入的该领域目录任务", "The task of this domain's catalog the dataset joins")}
              >
                <Select
                  data-testid="dataset-catalog-task"
                  value={catalogTask}
                  onChange={(v: string) => setCatalogTask(v)}
                  placeholder={tr("选择任务", "Choose a task")}
                  options={tasks.map((t) => ({
                    value: t.id,
                    label: (
                      <span data-testid={`dataset-catalog-task-${t.id}`}>
                        {t.name} <Typography.Text type="secondary">({t.id})</Typography.Text>
                      </span>
                    ),
                  }))}
                  loading={loading}
                />
              </Form.Item>
              <Form.Item label={tr("数据文件(JSONL)", "Data file (JSONL)")} required>
                <Space>
                  <input
                    ref={dataInput}
                    type="file"
                    accept=".jsonl,.json,.txt,application/json,text/plain"
                    data-testid="dataset-data-file"
                    style={{ display: "none" }}
                    onChange={(e) => setDataFile(e.target.files?.[0] ?? null)}
                  />
                  <Button icon={<UploadOutlined />} onClick={() => dataInput.current?.click()}>
                    {tr("选择文件", "Choose file")}
                  </Button>
                  {dataFile ? (
                    <Typography.Text data-testid="dataset-data-name">
                      {dataFile.name} ({(dataFile.size / 1024).toFixed(1)} KiB)
                    </Typography.Text>
                  ) : (
                    <Typography.Text type="secondary">{tr("未选择", "none chosen")}</Typography.Text>
                  )}
                </Space>
              </Form.Item>
            </Col>
            <Col xs={24} lg={12}>
              <Form.Item
                label={
                  <Space>
                    {tr("数据集卡片(JSON)", "Dataset card (JSON)")}
                    <input
                      ref={cardInput}
                      type="file"
                      accept=".json,application/json"
                      data-testid="dataset-card-file"
                      style={{ display: "none" }}
                      onChange={(e) => void readCardFile(e.target.files?.[0])}
                    />
                    <Button size="small" onClick={() => cardInput.current?.click()}>
                      {tr("从文件读取", "Load from file")}
                    </Button>
                    <Button size="small" onClick={() => setCard(cardTemplate(domain))}>
                      {tr("模板", "Template")}
                    </Button>
                  </Space>
                }
                required
                validateStatus={cardParse.ok ? undefined : "error"}
                help={cardParse.ok ? undefined : cardParse.error}
              >
                <Input.TextArea
                  data-testid="dataset-card"
                  rows={12}
                  value={card}
                  onChange={(e) => setCard(e.target.value)}
                  style={{ fontFamily: "monospace" }}
                />
              </Form.Item>
            </Col>
          </Row>
          {formError ? (
            <Alert type="error" showIcon message={formError} data-testid="form-error" style={{ marginBottom: 16 }} />
          ) : null}
          <Button type="primary" htmlType="submit" loading={submitting} data-testid="dataset-submit">
            {tr("注册", "Register")}
          </Button>
        </Form>

        {problems ? (
          <div data-testid="dataset-problems" style={{ marginTop: 16 }}>
            <Table<DatasetProblem & { key: number }>
              size="small"
              pagination={{ pageSize: 50, hideOnSinglePage: true }}
              dataSource={problems.map((p, i) => ({ ...p, key: i }))}
              onRow={(p) => testId<HTMLAttributes<HTMLElement>>("dataset-problem", { "data-line": p.line ?? "" })}
              columns={[
                {
                  title: tr("来源", "Source"),
                  dataIndex: "source",
                  width: 90,
                  render: (s: string) => (
                    <Tag color={s === "data" ? "orange" : s === "card" ? "purple" : "default"}>
                      {s === "data" ? tr("数据", "data") : s === "card" ? tr("卡片", "card") : tr("表单", "form")}
                    </Tag>
                  ),
                },
                {
                  title: tr("行 / 字段", "Line / field"),
                  key: "where",
                  width: 140,
                  render: (_: unknown, p) =>
                    p.source === "data" ? (p.line ? tr(`第 ${p.line} 行`, `line ${p.line}`) : "—") : p.field || "—",
                },
                { title: tr("问题", "Problem"), dataIndex: "message" },
              ]}
            />
          </div>
        ) : null}

        {result ? (
          <Alert
            style={{ marginTop: 16 }}
            type="success"
            showIcon
            data-testid="dataset-result"
            message={tr(`已注册 ${result.id} ${result.version}`, `Registered ${result.id} ${result.version}`)}
            description={
              <Descriptions size="small" column={1}>
                <Descriptions.Item label={tr("领域 / 任务", "Domain / task")}>
                  {domainLabel(result.domain)} / {taskName(result.domain, result.task)}
                </Descriptions.Item>
                <Descriptions.Item label={tr("条目数", "Items")}>
                  {result.size}
                  {result.dev_size ? tr(`(另有 ${result.dev_size} 条少样本示例)`, ` (+${result.dev_size} few-shot exemplars)`) : ""}
                </Descriptions.Item>
                <Descriptions.Item label="sha256">
                  <Typography.Text code copyable>
                    {result.sha256}
                  </Typography.Text>
                </Descriptions.Item>
              </Descriptions>
            }
          />
        ) : null}
      </Card>

      <Card size="small" title={tr("已注册的数据集", "Registered datasets")} style={{ marginTop: 16 }}>
        <div data-testid="datasets-registered-table">
          <Table<RegisteredRow>
            size="small"
            loading={loading}
            rowKey={(r) => `${r.domain}/${r.id}`}
            dataSource={registered}
            pagination={{ pageSize: 20, hideOnSinglePage: true }}
            scroll={{ x: "max-content" }}
            onRow={(r) => testId<HTMLAttributes<HTMLElement>>("dataset-row", { "data-dataset": r.id })}
            columns={[
              { title: "ID", dataIndex: "id", render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
              { title: tr("领域", "Domain"), dataIndex: "domain", render: (d: string) => domainLabel(d) },
              { title: tr("目录任务", "Catalog task"), key: "task", render: (_: unknown, r) => taskName(r.domain, r.task) },
              { title: tr("语言", "Language"), dataIndex: "language" },
              { title: tr("指标", "Metric"), dataIndex: "metric" },
              { title: tr("条目数", "Items"), dataIndex: "size", align: "right" },
              { title: tr("版本", "Version"), dataIndex: "version" },
              {
                title: "sha256",
                dataIndex: "sha256",
                render: (v: string | null | undefined) =>
                  v ? (
                    <Typography.Text code copyable={{ text: v }}>
                      {v.slice(0, 12)}…
                    </Typography.Text>
                  ) : (
                    "—"
                  ),
              },
            ]}
          />
        </div>
      </Card>
    </div>
  );
}
