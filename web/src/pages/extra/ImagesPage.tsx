import { useCallback, useEffect, useState, type HTMLAttributes } from "react";
import { Alert, Button, Card, Col, Form, Input, Row, Space, Table, Tag, Typography, App } from "antd";
import { ReloadOutlined } from "@ant-design/icons";
import { ApiError, api, errorText } from "../../api/client";
import { useT } from "../../i18n";
import { RequireApproved } from "../../auth/guards";
import { DockerfileView, FindingsList, SEVERITY_COLOR } from "../../components/extra/FindingsList";
import { fmtTime, testId, useDomainLabel } from "./common";
import type { CustomImage, Finding, ImageList, PresetImage, Severity } from "./types";
import {
  checkDescription,
  checkDockerfile,
  checkImageName,
  checkImageTag,
  checkSourceUrl,
  type ImageErrorKey,
} from "./validate";

const MESSAGES: Record<ImageErrorKey, [string, string]> = {
  "v.name.length": ["名称长度需为 3–128 个字符", "The name must be 3 to 128 characters long"],
  "v.name.chars": [
    "名称只能包含小写字母 a-z、数字 0-9、'-' 和 '.'",
    "The name may only contain lowercase letters a-z, digits 0-9, '-' and '.'",
  ],
  "v.name.start": ["名称必须以小写字母开头", "The name must start with a lowercase letter"],
  "v.name.end": ["名称必须以小写字母或数字结尾", "The name must end with a lowercase letter or a digit"],
  "v.name.dots": ["名称不能包含 '..'、'.-' 或 '-.'", "The name must not contain '..', '.-' or '-.'"],
  "v.tag.latest": ["不允许使用 latest 标签,请填写固定标签,如 v1.0", "The tag 'latest' is not allowed: give a fixed tag, e.g. v1.0"],
  "v.tag.chars": [
    "标签为 1–128 个字母、数字、'_'、'.'、'-',不能以 '.' 或 '-' 开头",
    "The tag must be 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
  ],
  "v.source.required": ["请填写镜像地址", "The source URL is required"],
  "v.source.scheme": [
    "镜像地址为 docker pull 使用的引用(如 nvcr.io/nvidia/pytorch:23.03-py3),不带 http:// 或 https://",
    "The source is an image reference as given to docker pull (e.g. nvcr.io/nvidia/pytorch:23.03-py3), without http(s)://",
  ],
  "v.source.spaces": ["镜像地址不能包含空格", "The source URL must not contain spaces"],
  "v.dockerfile.required": ["请填写 Dockerfile(供审核)", "The Dockerfile is required (reviewers read it)"],
  "v.dockerfile.size": ["Dockerfile 不能超过 64 KiB", "The Dockerfile must be at most 64 KiB"],
  "v.description.length": ["描述不能超过 256 个字符", "The description must be at most 256 characters"],
};

type FormValues = {
  name: string;
  tag?: string;
  source_url: string;
  dockerfile: string;
  description?: string;
};

const FIELDS: (keyof FormValues)[] = ["name", "tag", "source_url", "dockerfile", "description"];

export function useImageStatus(): (status: string) => { color: string; label: string } {
  const { tr } = useT();
  return (status) => {
    switch (status) {
      case "pending_review":
        return { color: "gold", label: tr("待审核", "Pending review") };
      case "approved":
        return { color: "blue", label: tr("已通过,导入中", "Approved, importing") };
      case "imported":
        return { color: "green", label: tr("已导入", "Imported") };
      case "rejected":
        return { color: "red", label: tr("已驳回", "Rejected") };
      default:
        return { color: "default", label: status };
    }
  };
}

function SeverityCounts({ findings }: { findings: Finding[] }) {
  const counts: Record<string, number> = {};
  for (const f of findings) counts[f.severity] = (counts[f.severity] ?? 0) + 1;
  const keys = (["blocking", "warning", "hint"] as Severity[]).filter((s) => counts[s]);
  if (keys.length === 0) return <Typography.Text type="secondary">0</Typography.Text>;
  return (
    <Space size={2}>
      {keys.map((s) => (
        <Tag key={s} color={SEVERITY_COLOR[s]}>
          {counts[s]}
        </Tag>
      ))}
    </Space>
  );
}

export default function ImagesPage() {
  return (
    <RequireApproved>
      <Images />
    </RequireApproved>
  );
}

function Images() {
  const { message } = App.useApp();
  const { tr, lang } = useT();
  const domainLabel = useDomainLabel();
  const statusOf = useImageStatus();
  const [form] = Form.useForm<FormValues>();
  const [list, setList] = useState<ImageList | null>(null);
  const [loading, setLoading] = useState(false);
  const [listError, setListError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [result, setResult] = useState<CustomImage | null>(null);

  const load = useCallback(async () => {
    setLoading(true);
    setListError(null);
    try {
      setList(await api<ImageList>("GET", "/api/images"));
    } catch (e) {
      setListError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const rule = (check: (v: string) => ImageErrorKey | null) => ({
    validator: async (_: unknown, value: string | undefined) => {
      const key = check(value ?? "");
      if (key) throw new Error(MESSAGES[key][lang === "zh" ? 0 : 1]);
    },
  });

  const submit = async (values: FormValues) => {
    setSubmitting(true);
    setFormError(null);
    setResult(null);
    const body: Record<string, string> = {
      name: values.name.trim(),
      source_url: values.source_url.trim(),
      dockerfile: values.dockerfile,
      description: values.description ?? "",
    };
    if (values.tag && values.tag.trim()) body.tag = values.tag.trim();
    try {
      const created = await api<CustomImage>("POST", "/api/images", body);
      setResult(created);
      message.success(tr("已提交导入申请,等待管理员审核", "Import requested; waiting for an administrator's review"));
      void load();
    } catch (e) {
      // Field errors from the API's 422 go next to their fields; the rest above the button.
      if (e instanceof ApiError && e.status === 422 && Array.isArray(e.detail)) {
        const byField = new Map<string, string[]>();
        const rest: string[] = [];
        for (const issue of e.detail) {
          const field = issue.loc?.filter((p) => p !== "body")[0];
          const msg = String(issue.msg ?? issue.message ?? "").replace(/^Value error, /, "");
          if (typeof field === "string" && (FIELDS as string[]).includes(field)) {
            byField.set(field, [...(byField.get(field) ?? []), msg]);
          } else rest.push(msg);
        }
        form.setFields(
          [...byField.entries()].map(([name, errors]) => ({ name: name as keyof FormValues, errors })),
        );
        setFormError(rest.length ? rest.join("; ") : errorText(e));
      } else {
        setFormError(errorText(e));
      }
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <div>
      <Space style={{ width: "100%", justifyContent: "space-between" }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {tr("镜像", "Images")}
        </Typography.Title>
        <Button icon={<ReloadOutlined />} onClick={() => void load()} data-testid="images-refresh">
          {tr("刷新", "Refresh")}
        </Button>
      </Space>
      {listError ? <Alert type="error" showIcon message={listError} style={{ margin: "16px 0" }} /> : null}

      <Card title={tr("预置镜像", "Preset images")} style={{ marginTop: 16 }} size="small">
        <div data-testid="images-preset-table">
          <Table<PresetImage>
            rowKey="id"
            size="small"
            loading={loading}
            dataSource={list?.preset ?? []}
            pagination={false}
            scroll={{ x: "max-content" }}
            onRow={(r) => testId<HTMLAttributes<HTMLElement>>("image-preset-row", { "data-name": r.name })}
            columns={[
              {
                title: tr("镜像", "Image"),
                key: "name",
                render: (_: unknown, r) => (
                  <Typography.Text code>
                    {r.name}:{r.tag}
                  </Typography.Text>
                ),
              },
              { title: tr("领域", "Domain"), dataIndex: "domain", render: (d: string | null) => (d ? domainLabel(d) : "—") },
              { title: tr("框架", "Framework"), dataIndex: "framework", render: (v: string | null) => v ?? "—" },
              {
                title: tr("适用卡型", "Card types"),
                dataIndex: "card_types",
                render: (v: string[]) => v.map((c) => <Tag key={c}>{c}</Tag>),
              },
              {
                title: tr("标签", "Tags"),
                dataIndex: "tags",
                render: (v: string[]) => v.map((c) => <Tag key={c} color="geekblue">{c}</Tag>),
              },
              { title: tr("描述", "Description"), dataIndex: "description" },
            ]}
          />
        </div>
      </Card>

      <Card title={tr("我的镜像", "My images")} style={{ marginTop: 16 }} size="small">
        <div data-testid="images-mine-table">
          <Table<CustomImage>
            rowKey="id"
            size="small"
            loading={loading}
            dataSource={list?.custom ?? []}
            pagination={{ pageSize: 20, hideOnSinglePage: true }}
            scroll={{ x: "max-content" }}
            onRow={(r) =>
              testId<HTMLAttributes<HTMLElement>>("image-row", { "data-status": r.status, "data-name": r.name })
            }
            expandable={{
              expandedRowRender: (r) => (
                <Row gutter={16}>
                  <Col xs={24} lg={12}>
                    <Typography.Text strong>Dockerfile</Typography.Text>
                    <DockerfileView text={r.dockerfile} findings={r.findings} />
                  </Col>
                  <Col xs={24} lg={12}>
                    <Typography.Text strong>{tr("自动检查结果", "Automatic findings")}</Typography.Text>
                    <FindingsList findings={r.findings} testId="image-row-findings" />
                  </Col>
                </Row>
              ),
            }}
            columns={[
              {
                title: tr("镜像", "Image"),
                key: "name",
                render: (_: unknown, r) => (
                  <Typography.Text code>
                    {r.name}:{r.tag}
                  </Typography.Text>
                ),
              },
              { title: tr("来源", "Source"), dataIndex: "source_url" },
              {
                title: tr("状态", "Status"),
                dataIndex: "status",
                render: (s: string) => {
                  const st = statusOf(s);
                  return (
                    <Tag color={st.color} data-testid="image-status" data-status={s}>
                      {st.label}
                    </Tag>
                  );
                },
              },
              {
                title: tr("审核意见", "Review reason"),
                dataIndex: "reason",
                render: (v: string | null) =>
                  v ? (
                    <Typography.Text type="danger" data-testid="image-reason">
                      {v}
                    </Typography.Text>
                  ) : (
                    "—"
                  ),
              },
              {
                title: tr("平台镜像地址", "Platform reference"),
                dataIndex: "registry_ref",
                render: (v: string | null) => (v ? <Typography.Text code copyable>{v}</Typography.Text> : "—"),
              },
              {
                title: tr("检查结果", "Findings"),
                dataIndex: "findings",
                render: (f: Finding[]) => <SeverityCounts findings={f} />,
              },
              { title: tr("提交时间", "Requested"), dataIndex: "created_at", render: (v: string) => fmtTime(v) },
            ]}
          />
        </div>
      </Card>

      <Card title={tr("导入自定义镜像", "Import a custom image")} style={{ marginTop: 16 }} size="small">
        <Typography.Paragraph type="secondary">
          {tr(
            "仅支持从公共镜像仓库导入。提交后由管理员审核 Dockerfile,通过后镜像将导入平台仓库,可用于私有化部署。",
            "Images are imported from public registries only. An administrator reviews the Dockerfile; once approved, the image is copied into the platform registry and can be used for private deployments.",
          )}
        </Typography.Paragraph>
        <Row gutter={24}>
          <Col xs={24} lg={12}>
            <Form<FormValues> form={form} layout="vertical" onFinish={(v) => void submit(v)} disabled={submitting}>
              <Form.Item
                name="name"
                label={tr("镜像名称", "Name")}
                rules={[rule(checkImageName)]}
                extra={tr("3–128 个字符:小写字母、数字、'-'、'.',字母开头,字母或数字结尾", "3–128 of a-z 0-9 - . ; starts with a letter, ends with a letter or digit")}
              >
                <Input data-testid="image-name" placeholder="my-pytorch" autoComplete="off" />
              </Form.Item>
              <Form.Item
                name="tag"
                label={tr("标签", "Tag")}
                rules={[rule(checkImageTag)]}
                extra={tr("可选,默认为时间戳;不允许 latest", "Optional, defaults to a timestamp; 'latest' is not allowed")}
              >
                <Input data-testid="image-tag" placeholder="v1.0" autoComplete="off" />
              </Form.Item>
              <Form.Item
                name="source_url"
                label={tr("镜像地址(公共仓库)", "Source (public registry)")}
                rules={[rule(checkSourceUrl)]}
              >
                <Input data-testid="image-source-url" placeholder="nvcr.io/nvidia/pytorch:23.03-py3" autoComplete="off" />
              </Form.Item>
              <Form.Item name="dockerfile" label="Dockerfile" rules={[rule(checkDockerfile)]}>
                <Input.TextArea
                  data-testid="image-dockerfile"
                  rows={10}
                  style={{ fontFamily: "monospace" }}
                  placeholder={"FROM nvcr.io/nvidia/pytorch:23.03-py3\nRUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*"}
                />
              </Form.Item>
              <Form.Item name="description" label={tr("描述", "Description")} rules={[rule(checkDescription)]}>
                <Input.TextArea data-testid="image-description" rows={2} maxLength={256} showCount />
              </Form.Item>
              {formError ? (
                <Alert type="error" showIcon message={formError} data-testid="form-error" style={{ marginBottom: 16 }} />
              ) : null}
              <Button type="primary" htmlType="submit" loading={submitting} data-testid="image-submit">
                {tr("提交导入申请", "Request import")}
              </Button>
            </Form>
          </Col>
          <Col xs={24} lg={12}>
            <Typography.Title level={5}>{tr("Dockerfile 检查结果", "Dockerfile findings")}</Typography.Title>
            {result ? (
              <>
                <Alert
                  type="info"
                  showIcon
                  style={{ marginBottom: 12 }}
                  message={
                    <span data-testid="image-result" data-status={result.status}>
                      {result.name}:{result.tag} — {statusOf(result.status).label}
                    </span>
                  }
                />
                <FindingsList findings={result.findings} />
              </>
            ) : (
              <Typography.Text type="secondary">
                {tr(
                  "提交后,这里会列出自动检查发现的问题(行号、级别、规则、说明、修改建议)。",
                  "After you submit, the automatic checks' findings appear here (line, severity, rule, message, hint).",
                )}
              </Typography.Text>
            )}
          </Col>
        </Row>
      </Card>
    </div>
  );
}
