// The three ways to attach data to a catalog dataset (the admin datasets page's dialog):
// import public files, a card + JSONL, or a media dataset uploaded with the CLI.
import { useEffect, useMemo, useRef, useState, type HTMLAttributes, type ReactNode } from "react";
import { Alert, App, Button, Descriptions, Form, Input, InputNumber, Progress, Radio, Select, Space, Table, Tag, Typography } from "antd";
import { UploadOutlined } from "@ant-design/icons";
import { ApiError, api, errorText } from "../../api/client";
import { useT } from "../../i18n";
import StatusTag from "../../components/StatusTag";
import { usePolling } from "../../components/usePolling";
import { fmtTime, testId } from "./common";
import type { AdminDataset, CatalogTask, DatasetProblem, DatasetUpload, DatasetUploadToken, RegisteredDatasetReply } from "./types";

/** The importer formats of the dataset library (libs/datasets … importers FORMAT_TABLE). */
export const IMPORT_FORMATS: { id: string; zh: string; en: string }[] = [
  { id: "mmlu", zh: "MMLU 数据目录或压缩包(dev/val/test 下的 <学科>_<split>.csv)", en: "MMLU data folder archive (dev/val/test/<subject>_<split>.csv)" },
  { id: "cmmlu", zh: "CMMLU 数据目录压缩包(dev/test 下的 <学科>.csv)", en: "CMMLU folder archive (dev/test/<subject>.csv)" },
  { id: "ceval", zh: "C-Eval 压缩包(dev/val 下的 <学科>_<split>.csv;评测 val)", en: "C-Eval archive (dev/val/<subject>_<split>.csv; val is evaluated)" },
  { id: "gsm8k-jsonl", zh: "GSM8K test.jsonl(压缩包内的 train.jsonl 提供 5-shot)", en: "GSM8K test.jsonl (train.jsonl in an archive gives 5-shot)" },
  { id: "hellaswag-jsonl", zh: "HellaSwag hellaswag_val.jsonl", en: "HellaSwag hellaswag_val.jsonl" },
  { id: "arc-jsonl", zh: "ARC ARC-Challenge-Test.jsonl", en: "ARC ARC-Challenge-Test.jsonl" },
  { id: "boolq-jsonl", zh: "BoolQ dev.jsonl", en: "BoolQ dev.jsonl" },
  { id: "truthfulqa-mc1", zh: "TruthfulQA MC1(mc_task.json 或 HF JSONL)", en: "TruthfulQA MC1 (mc_task.json or the HF JSONL)" },
  { id: "mmlu-csv", zh: "单个 MMLU 格式 CSV(无表头)", en: "one MMLU-style CSV (no header)" },
  { id: "ceval-csv", zh: "单个 C-Eval 格式 CSV(有表头)", en: "one C-Eval-style CSV (with header)" },
  { id: "jsonl", zh: "平台自己的条目 JSONL", en: "the platform's own item JSONL" },
];

/** The importer a built-in dataset's public files need (the admin may pick another). */
export function defaultFormat(datasetId: string): string {
  const known: [RegExp, string][] = [
    [/^mmlu$/, "mmlu"],
    [/^cmmlu$/, "cmmlu"],
    [/^c-?eval$/, "ceval"],
    [/^gsm8k/, "gsm8k-jsonl"],
    [/^hellaswag/, "hellaswag-jsonl"],
    [/^arc/, "arc-jsonl"],
    [/^boolq/, "boolq-jsonl"],
    [/^truthfulqa/, "truthfulqa-mc1"],
  ];
  return known.find(([re]) => re.test(datasetId))?.[1] ?? "jsonl";
}

/** Problems from a 422/413 reply: a list of `{source, file?, field|line, message}`. */
export function problemsOf(e: unknown): DatasetProblem[] | null {
  if (!(e instanceof ApiError) || !Array.isArray(e.detail)) return null;
  return e.detail.map((d) => {
    const item = d as Record<string, unknown>;
    if (typeof item.source === "string") {
      return {
        source: item.source,
        field: (item.field as string | null | undefined) ?? null,
        line: (item.line as number | null | undefined) ?? null,
        file: (item.file as string | null | undefined) ?? null,
        message: String(item.message ?? ""),
      };
    }
    // A plain validation error (e.g. from the framework): where + msg.
    const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : null;
    return { source: "form", field: loc, line: null, file: null, message: String(item.msg ?? item.message ?? "") };
  });
}

/** The error line of a failed registration, and its problems for the table. */
function useRejection() {
  const { tr } = useT();
  const [formError, setFormError] = useState<string | null>(null);
  const [problems, setProblems] = useState<DatasetProblem[] | null>(null);
  const reset = () => {
    setFormError(null);
    setProblems(null);
  };
  const fail = (e: unknown) => {
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
  };
  return { formError, problems, reset, fail, setFormError };
}

const SOURCE_COLOR: Record<string, string> = { data: "orange", manifest: "orange", card: "purple", upload: "red" };

export function ProblemsTable({ problems }: { problems: DatasetProblem[] }) {
  const { tr } = useT();
  const sourceLabel = (s: string) =>
    ({ data: tr("数据", "data"), card: tr("卡片", "card"), form: tr("表单", "form"), manifest: tr("清单", "manifest"), upload: tr("上传", "upload") })[s] ?? s;
  return (
    <div data-testid="dataset-problems" style={{ marginTop: 16 }}>
      <Table<DatasetProblem & { key: number }>
        size="small"
        pagination={{ pageSize: 50, hideOnSinglePage: true }}
        dataSource={problems.map((p, i) => ({ ...p, key: i }))}
        onRow={(p) => testId<HTMLAttributes<HTMLElement>>("dataset-problem", { "data-line": p.line ?? "", "data-file": p.file ?? "" })}
        columns={[
          {
            title: tr("来源", "Source"),
            dataIndex: "source",
            width: 90,
            render: (s: string) => <Tag color={SOURCE_COLOR[s] ?? "default"}>{sourceLabel(s)}</Tag>,
          },
          {
            title: tr("文件", "File"),
            dataIndex: "file",
            render: (f: string | null | undefined) => (f ? <Typography.Text code>{f}</Typography.Text> : "—"),
          },
          {
            title: tr("行 / 字段", "Line / field"),
            key: "where",
            width: 120,
            render: (_: unknown, p) => (p.line ? tr(`第 ${p.line} 行`, `line ${p.line}`) : p.field || "—"),
          },
          { title: tr("问题", "Problem"), dataIndex: "message" },
        ]}
      />
    </div>
  );
}

function FilePick({ testid, accept, file, onFile }: { testid: string; accept: string; file: File | null; onFile: (f: File | null) => void }) {
  const { tr } = useT();
  const input = useRef<HTMLInputElement>(null);
  return (
    <Space>
      <input
        ref={input}
        type="file"
        accept={accept}
        data-testid={testid}
        style={{ display: "none" }}
        onChange={(e) => onFile(e.target.files?.[0] ?? null)}
      />
      <Button icon={<UploadOutlined />} onClick={() => input.current?.click()}>
        {tr("选择文件", "Choose file")}
      </Button>
      {file ? (
        <Typography.Text data-testid={`${testid}-name`}>
          {file.name} ({(file.size / 1024).toFixed(1)} KiB)
        </Typography.Text>
      ) : (
        <Typography.Text type="secondary">{tr("未选择", "none chosen")}</Typography.Text>
      )}
    </Space>
  );
}

function Registered({ reply, testid }: { reply: RegisteredDatasetReply; testid: string }) {
  const { tr } = useT();
  const sha = (reply.content_sha256 as string | undefined) ?? reply.sha256;
  return (
    <Alert
      style={{ marginTop: 16 }}
      type="success"
      showIcon
      data-testid={testid}
      message={tr(`已注册 ${reply.id} 版本 ${reply.version}`, `Registered ${reply.id} version ${reply.version}`)}
      description={
        <Descriptions size="small" column={1}>
          <Descriptions.Item label={tr("条目数", "Items")}>
            {reply.size}
            {reply.dev_size ? tr(`(另有 ${reply.dev_size} 条少样本示例)`, ` (+${reply.dev_size} few-shot exemplars)`) : ""}
          </Descriptions.Item>
          {sha ? (
            <Descriptions.Item label={tr("内容 sha256", "Content sha256")}>
              <Typography.Text code copyable>
                {sha}
              </Typography.Text>
            </Descriptions.Item>
          ) : null}
        </Descriptions>
      }
    />
  );
}

function Failure({ formError, problems }: { formError: string | null; problems: DatasetProblem[] | null }): ReactNode {
  return (
    <>
      {formError ? <Alert type="error" showIcon message={formError} data-testid="form-error" style={{ marginTop: 16 }} /> : null}
      {problems ? <ProblemsTable problems={problems} /> : null}
    </>
  );
}

// ---------------------------------------------------------------- import public files

export function ImportForm({ dataset, onDone }: { dataset: AdminDataset; onDone: () => void }) {
  const { tr, lang } = useT();
  const { message } = App.useApp();
  const [format, setFormat] = useState(() => defaultFormat(dataset.id));
  const [language, setLanguage] = useState<string>(dataset.language === "zh" ? "zh" : "en");
  const [version, setVersion] = useState("");
  const [fewShot, setFewShot] = useState<number | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<RegisteredDatasetReply | null>(null);
  const rejection = useRejection();

  const submit = async () => {
    rejection.reset();
    setResult(null);
    if (!file) {
      rejection.setFormError(tr("请选择公开数据文件或压缩包", "Choose the public file or archive"));
      return;
    }
    const fd = new FormData();
    fd.append("format", format);
    fd.append("dataset", dataset.id);
    fd.append("language", language);
    if (version.trim()) fd.append("version", version.trim());
    if (fewShot !== null) fd.append("few_shot", String(fewShot));
    fd.append("data", file, file.name || "data");
    setBusy(true);
    try {
      const reply = await api<RegisteredDatasetReply>("POST", "/api/admin/datasets/import", fd);
      setResult(reply);
      message.success(tr(`已导入 ${reply.id} 版本 ${reply.version}`, `Imported ${reply.id} version ${reply.version}`));
      onDone();
    } catch (e) {
      rejection.fail(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Form layout="vertical" onFinish={() => void submit()} disabled={busy}>
      <Typography.Paragraph type="secondary">
        {tr(
          "上传数据集的公开文件或其压缩包(.zip / .tar / .tar.gz),由数据集库的导入器转换并检查;有问题时按文件和行列出,不保存任何内容。新版本成为当前版本,旧版本保留。",
          "Upload the dataset's public file or an archive of it (.zip / .tar / .tar.gz): the dataset library's importer converts and checks it; problems are listed by file and line and nothing is stored. A new version becomes the current one; older versions stay.",
        )}
      </Typography.Paragraph>
      <Form.Item label={tr("格式", "Format")} required>
        <Select
          data-testid="import-format"
          value={format}
          onChange={(v: string) => setFormat(v)}
          options={IMPORT_FORMATS.map((f) => ({
            value: f.id,
            label: (
              <span data-testid={`import-format-${f.id}`}>
                <Typography.Text code>{f.id}</Typography.Text> {lang === "zh" ? f.zh : f.en}
              </span>
            ),
          }))}
        />
      </Form.Item>
      <Space wrap size="large">
        <Form.Item label={tr("语言", "Language")} required>
          <Radio.Group value={language} onChange={(e) => setLanguage(e.target.value as string)} optionType="button">
            <Radio.Button value="en">
              <span data-testid="import-language-en">English</span>
            </Radio.Button>
            <Radio.Button value="zh">
              <span data-testid="import-language-zh">中文</span>
            </Radio.Button>
          </Radio.Group>
        </Form.Item>
        <Form.Item label={tr("版本", "Version")} extra={tr("留空则自动递增", "empty: one more than so far")}>
          <Input data-testid="import-version" value={version} onChange={(e) => setVersion(e.target.value)} maxLength={64} style={{ width: 160 }} />
        </Form.Item>
        <Form.Item label={tr("少样本数", "Few-shot")} extra={tr("留空则用格式的默认值", "empty: the format's default")}>
          <InputNumber data-testid="import-few-shot" min={0} max={25} precision={0} value={fewShot} onChange={(v) => setFewShot(v)} />
        </Form.Item>
      </Space>
      <Form.Item label={tr("公开数据文件或压缩包", "Public file or archive")} required>
        <FilePick testid="import-file" accept=".zip,.tar,.gz,.tgz,.csv,.jsonl,.json" file={file} onFile={setFile} />
      </Form.Item>
      <Button type="primary" htmlType="submit" loading={busy} data-testid="import-submit">
        {tr("导入", "Import")}
      </Button>
      <Failure formError={rejection.formError} problems={rejection.problems} />
      {result ? <Registered reply={result} testid="import-result" /> : null}
    </Form>
  );
}

// ---------------------------------------------------------------- card + JSONL

function cardTemplate(dataset: AdminDataset | null, domain: string): string {
  const card: Record<string, unknown> = {
    name: dataset?.id ?? "my-dataset",
    domain: dataset?.domain ?? domain,
    task: dataset?.metric === "exact-match" ? "math" : "choice_qa",
    language: dataset && dataset.language !== "none" && dataset.language !== "multi" ? dataset.language : "en",
    metric: (dataset?.metric ?? "accuracy").replace(/-/g, "_"),
    few_shot: 0,
    version: String((dataset?.versions.length ?? 0) + 1),
    description: "",
  };
  return JSON.stringify(card, null, 2);
}

/** The card + JSONL registration (`POST /api/admin/datasets`): for a row, its id prefilled. */
export function CardForm({ dataset, domain, tasks, onDone }: { dataset: AdminDataset | null; domain: string; tasks: CatalogTask[]; onDone: () => void }) {
  const { tr } = useT();
  const { message } = App.useApp();
  const [card, setCard] = useState(() => cardTemplate(dataset, domain));
  const [catalogTask, setCatalogTask] = useState<string | undefined>(dataset?.task);
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<RegisteredDatasetReply | null>(null);
  const rejection = useRejection();
  const cardInput = useRef<HTMLInputElement>(null);

  // A new template only for another dataset (not when the list reloads after a registration).
  useEffect(() => {
    setCard(cardTemplate(dataset, domain));
    setCatalogTask(dataset?.task);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [dataset?.id, domain]);

  const cardParse = useMemo<{ ok: boolean; error?: string }>(() => {
    try {
      const parsed = JSON.parse(card) as unknown;
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        return { ok: false, error: tr("卡片必须是 JSON 对象", "The card must be a JSON object") };
      }
      return { ok: true };
    } catch (e) {
      return { ok: false, error: `${tr("JSON 格式错误:", "Invalid JSON: ")}${(e as Error).message}` };
    }
  }, [card, tr]);

  const submit = async () => {
    rejection.reset();
    setResult(null);
    if (!cardParse.ok) return rejection.setFormError(cardParse.error ?? tr("卡片无效", "Invalid card"));
    if (!file) return rejection.setFormError(tr("请选择 JSONL 数据文件", "Choose the JSONL data file"));
    if (!catalogTask) return rejection.setFormError(tr("请选择目录任务", "Choose the catalog task"));
    const fd = new FormData();
    fd.append("card", new Blob([card], { type: "application/json" }), "card.json");
    fd.append("data", file, file.name || "data.jsonl");
    fd.append("catalog_task", catalogTask);
    setBusy(true);
    try {
      const reply = await api<RegisteredDatasetReply>("POST", "/api/admin/datasets", fd);
      setResult(reply);
      message.success(tr(`已注册 ${reply.id} 版本 ${reply.version}`, `Registered ${reply.id} version ${reply.version}`));
      onDone();
    } catch (e) {
      rejection.fail(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Form layout="vertical" onFinish={() => void submit()} disabled={busy}>
      <Typography.Paragraph type="secondary">
        {tr(
          "卡片 JSON 字段:name(即数据集 ID,[a-z0-9-])、domain、task(choice_qa / classification / generative_qa / math / open_qa)、language、metric、few_shot、version,可选 prompt_template、description。数据为 JSONL:每行 id、input,可选 choices、label、references;\"split\": \"dev\" 表示少样本示例。同名同版本会被拒绝;新版本成为当前版本。",
          "Card fields: name (the dataset id, [a-z0-9-]), domain, task (choice_qa / classification / generative_qa / math / open_qa), language, metric, few_shot, version, optional prompt_template and description. Data is JSONL: id, input, optional choices, label, references per line; \"split\": \"dev\" marks few-shot exemplars. The same name and version again is refused; a new version becomes the current one.",
        )}
      </Typography.Paragraph>
      <Form.Item label={tr("目录任务", "Catalog task")} required extra={tr("数据集所属的该领域目录任务", "The task of this domain's catalog the dataset belongs to")}>
        <Select
          data-testid="dataset-catalog-task"
          value={catalogTask}
          onChange={(v: string) => setCatalogTask(v)}
          disabled={busy || !!dataset?.builtin}
          placeholder={tr("选择任务", "Choose a task")}
          options={tasks.map((t) => ({
            value: t.id,
            label: (
              <span data-testid={`dataset-catalog-task-${t.id}`}>
                {t.name} <Typography.Text type="secondary">({t.id})</Typography.Text>
              </span>
            ),
          }))}
        />
      </Form.Item>
      <Form.Item label={tr("数据文件(JSONL)", "Data file (JSONL)")} required>
        <FilePick testid="dataset-data-file" accept=".jsonl,.json,.txt,application/json,text/plain" file={file} onFile={setFile} />
      </Form.Item>
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
              onChange={(e) => void e.target.files?.[0]?.text().then(setCard)}
            />
            <Button size="small" onClick={() => cardInput.current?.click()}>
              {tr("从文件读取", "Load from file")}
            </Button>
            <Button size="small" onClick={() => setCard(cardTemplate(dataset, domain))}>
              {tr("模板", "Template")}
            </Button>
          </Space>
        }
        required
        validateStatus={cardParse.ok ? undefined : "error"}
        help={cardParse.ok ? undefined : cardParse.error}
      >
        <Input.TextArea data-testid="dataset-card" rows={10} value={card} onChange={(e) => setCard(e.target.value)} style={{ fontFamily: "monospace" }} />
      </Form.Item>
      <Button type="primary" htmlType="submit" loading={busy} data-testid="dataset-submit">
        {tr("注册", "Register")}
      </Button>
      <Failure formError={rejection.formError} problems={rejection.problems} />
      {result ? <Registered reply={result} testid="dataset-result" /> : null}
    </Form>
  );
}

// ---------------------------------------------------------------- media upload

const UPLOAD_DONE = ["valid", "invalid"];

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}

/**
 * A media dataset (manifest + files) too large for one request: a dataset upload token and the
 * `flageval-serving upload` command to paste (the same resumable protocol as model bundles),
 * the upload's progress (polled every 3 s), then Register.
 */
export function MediaUploadForm({ dataset, onDone }: { dataset: AdminDataset; onDone: () => void }) {
  const { tr } = useT();
  const { message } = App.useApp();
  const [version, setVersion] = useState(() => String(dataset.versions.length + 1));
  const [token, setToken] = useState<DatasetUploadToken | null>(null);
  const [upload, setUpload] = useState<DatasetUpload | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<RegisteredDatasetReply | null>(null);
  const rejection = useRejection();

  const requestToken = async () => {
    rejection.reset();
    setResult(null);
    setUpload(null);
    setBusy(true);
    try {
      setToken(await api<DatasetUploadToken>("POST", "/api/admin/datasets/uploads", { dataset: dataset.id, version: version.trim() }));
    } catch (e) {
      setToken(null);
      rejection.fail(e);
    } finally {
      setBusy(false);
    }
  };

  usePolling(
    async () => {
      if (!token) return;
      try {
        setUpload(await api<DatasetUpload>("GET", `/api/admin/datasets/uploads/${token.upload_id}`));
      } catch {
        /* keep the last state */
      }
    },
    3000,
    !!token && !result && !UPLOAD_DONE.includes(upload?.status ?? ""),
    [token?.upload_id],
  );

  const register = async () => {
    if (!token) return;
    rejection.reset();
    setBusy(true);
    try {
      const path = `/api/admin/datasets/uploads/${token.upload_id}/register`;
      const body = { catalog_task: dataset.task };
      // Right after the upload completes, eval-api may not have recorded it yet (an event):
      // a 404 then is retried for a few seconds before it is shown.
      let reply: RegisteredDatasetReply | null = null;
      for (let attempt = 0; !reply; attempt++) {
        try {
          reply = await api<RegisteredDatasetReply>("POST", path, body);
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 404) || attempt >= 10) throw e;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
      setResult(reply);
      message.success(tr(`已注册 ${reply.id} 版本 ${reply.version}`, `Registered ${reply.id} version ${reply.version}`));
      onDone();
    } catch (e) {
      rejection.fail(e);
    } finally {
      setBusy(false);
    }
  };

  const files = upload?.files ?? [];
  const uploaded = files.reduce((s, f) => s + (f.sha256 ? f.size_bytes ?? 0 : 0), 0);
  const percent = upload && upload.total_bytes > 0 ? Math.min(100, Math.round((uploaded / upload.total_bytes) * 100)) : upload && UPLOAD_DONE.includes(upload.status) ? 100 : 0;

  return (
    <div>
      <Typography.Paragraph type="secondary">
        {tr(
          "大型媒体数据集(card.json + manifest.jsonl + files/ 下的图像、掩码、深度图、音频)用 flageval-serving 上传工具断点续传:取得上传令牌,在数据集目录上运行下面的命令,上传完成后点击“注册”。",
          "Large media datasets (card.json + manifest.jsonl + images, masks, depth maps, audio under files/) upload resumably with the flageval-serving uploader: get a token, run the command below on the dataset folder, then Register once the upload is complete.",
        )}
      </Typography.Paragraph>
      <Space align="end" wrap>
        <Form layout="vertical">
          <Form.Item label={tr("版本(与 card.json 中一致)", "Version (as in card.json)")} style={{ marginBottom: 0 }}>
            <Input data-testid="media-version" value={version} onChange={(e) => setVersion(e.target.value)} maxLength={64} style={{ width: 160 }} />
          </Form.Item>
        </Form>
        <Button type="primary" data-testid="media-token" loading={busy && !token} disabled={!version.trim()} onClick={() => void requestToken()}>
          {token ? tr("重新获取令牌", "New token") : tr("获取上传令牌", "Get upload token")}
        </Button>
      </Space>
      {token ? (
        <div style={{ marginTop: 16 }}>
          <Typography.Paragraph>
            {tr("1. 安装上传工具:", "1. Install the uploader:")} <Typography.Text code>pip install flageval-serving==0.2.5</Typography.Text>
          </Typography.Paragraph>
          <Typography.Paragraph>
            {tr("2. 运行以下命令(将 ./my_dataset 替换为数据集目录):", "2. Run this command (replace ./my_dataset with the dataset folder):")}
          </Typography.Paragraph>
          <Typography.Paragraph copyable={{ text: token.command }} style={{ marginBottom: 4 }}>
            <pre data-testid="media-upload-command" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all", background: "#f5f5f5", padding: 12, margin: 0 }}>
              {token.command}
            </pre>
          </Typography.Paragraph>
          <Typography.Text type="secondary">
            {tr("令牌有效期至", "Token valid until")} {fmtTime(token.expires_at)}
          </Typography.Text>
          <div style={{ marginTop: 16 }} data-testid="media-upload-progress">
            <Space>
              <Typography.Text strong>{tr("上传状态", "Upload")}:</Typography.Text>
              {upload ? (
                <StatusTag status={upload.status} testId="media-upload-status" />
              ) : (
                <span data-testid="media-upload-status" data-status="waiting">
                  {tr("等待上传", "waiting for the upload")}
                </span>
              )}
              {upload ? (
                <Typography.Text type="secondary">
                  {tr(`${upload.files_ready} 个文件`, `${upload.files_ready} files`)} · {fmtBytes(uploaded)} / {fmtBytes(upload.total_bytes)}
                </Typography.Text>
              ) : null}
            </Space>
            {upload ? <Progress percent={percent} size="small" status={upload.status === "invalid" ? "exception" : undefined} /> : null}
            {upload && upload.problems.length ? (
              <Alert type="error" style={{ marginTop: 8 }} message={<ul style={{ margin: 0, paddingLeft: 18 }}>{upload.problems.map((p, i) => <li key={i}>{p}</li>)}</ul>} />
            ) : null}
          </div>
          <Button
            type="primary"
            style={{ marginTop: 16 }}
            data-testid="media-register"
            disabled={upload?.status !== "valid" || !!result}
            loading={busy}
            onClick={() => void register()}
          >
            {tr("注册", "Register")}
          </Button>
        </div>
      ) : null}
      <Failure formError={rejection.formError} problems={rejection.problems} />
      {result ? <Registered reply={result} testid="media-result" /> : null}
    </div>
  );
}
