import { useEffect, useState } from "react";
import { Alert, List, Modal, Space, Spin, Typography } from "antd";
import { api, errorText } from "../../api/client";
import type { Bundle, UploadToken } from "../../api/types";
import { useT } from "../../i18n";
import StatusTag from "../../components/StatusTag";
import { usePolling } from "../../components/usePolling";
import { formatTime } from "../labels";

function problemText(p: Bundle["problems"][number]): string {
  return typeof p === "string" ? p : p.message ?? JSON.stringify(p);
}

function BundleList({ bundles }: { bundles: Bundle[] }) {
  const { tr } = useT();
  const newest = bundles.reduce<Bundle | null>((a, b) => (!a || b.version > a.version ? b : a), null);
  return (
    <>
      <Space style={{ marginBottom: 8 }}>
        <Typography.Text strong>{tr("最新版本状态", "Newest version")}:</Typography.Text>
        {newest ? (
          <StatusTag status={newest.status} testId="bundle-status" />
        ) : (
          <span data-testid="bundle-status" data-status="none">{tr("尚未上传", "nothing uploaded yet")}</span>
        )}
      </Space>
      <List
        size="small"
        bordered
        dataSource={[...bundles].sort((a, b) => b.version - a.version)}
        renderItem={(b) => (
          <List.Item data-testid="bundle-row" data-version={b.version} data-status={b.status}>
            <Space direction="vertical" style={{ width: "100%" }}>
              <Space>
                <Typography.Text strong>v{b.version}</Typography.Text>
                <StatusTag status={b.status} />
                <Typography.Text type="secondary">
                  {b.files.length} {tr("个文件", "files")} ·{" "}
                  {(b.files.reduce((s, f) => s + f.size_bytes, 0) / 1048576).toFixed(2)} MiB
                  {b.created_at ? ` · ${formatTime(b.created_at)}` : ""}
                </Typography.Text>
              </Space>
              {b.problems.length > 0 && (
                <Alert type="error" message={<ul style={{ margin: 0, paddingLeft: 18 }}>{b.problems.map((p, i) => <li key={i}>{problemText(p)}</li>)}</ul>} />
              )}
            </Space>
          </List.Item>
        )}
      />
    </>
  );
}

/** Asks for an upload token, shows the CLI command and the bundle versions (every 3 s). */
export default function UploadDialog({ evaluationId, open, onClose }: { evaluationId: string; open: boolean; onClose: () => void }) {
  const { tr } = useT();
  const [token, setToken] = useState<UploadToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [bundles, setBundles] = useState<Bundle[]>([]);

  useEffect(() => {
    if (!open) return;
    setToken(null);
    setError(null);
    api<UploadToken>("POST", `/api/evaluations/${evaluationId}/upload-tokens`)
      .then(setToken)
      .catch((e: unknown) => setError(errorText(e)));
  }, [open, evaluationId]);

  usePolling(
    async () => {
      try {
        setBundles(await api<Bundle[]>("GET", `/api/evaluations/${evaluationId}/bundles`));
      } catch {
        /* keep the last list */
      }
    },
    3000,
    open,
    [evaluationId],
  );

  return (
    <Modal open={open} width={820} title={tr("上传模型 & 代码", "Upload model & code")} onCancel={onClose} footer={null}>
      <Typography.Paragraph>
        {tr("1. 安装上传工具:", "1. Install the uploader:")} <Typography.Text code>pip install flageval-serving==0.2.5</Typography.Text>
      </Typography.Paragraph>
      <Typography.Paragraph>
        {tr("2. 运行以下命令(将 ./my_model 替换为模型目录):", "2. Run this command (replace ./my_model with your folder):")}
      </Typography.Paragraph>
      {error && <Alert type="error" showIcon message={error} data-testid="form-error" style={{ marginBottom: 12 }} />}
      {!token && !error && <Spin />}
      {token && (
        <>
          <Typography.Paragraph copyable={{ text: token.command }} style={{ marginBottom: 4 }}>
            <pre data-testid="upload-command" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all", background: "#f5f5f5", padding: 12, margin: 0 }}>
              {token.command}
            </pre>
          </Typography.Paragraph>
          <Typography.Text type="secondary">
            {tr("令牌有效期至", "Token valid until")} {formatTime(token.expires_at)}
          </Typography.Text>
        </>
      )}
      <Typography.Title level={5} style={{ marginTop: 16 }}>
        {tr("版本", "Versions")}
      </Typography.Title>
      <BundleList bundles={bundles} />
    </Modal>
  );
}
