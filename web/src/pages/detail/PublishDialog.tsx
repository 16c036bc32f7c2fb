import { useState } from "react";
import { Alert, Modal, Radio, Space, Typography } from "antd";
import { Link } from "react-router-dom";
import { api, errorText } from "../../api/client";
import type { Domain } from "../../api/types";
import { useT } from "../../i18n";

type Mode = "named" | "anonymous";

/** Publish a succeeded formal run to its domain board, named or anonymous. */
export default function PublishDialog({ runId, domain, open, onClose }: { runId: string; domain: Domain; open: boolean; onClose: () => void }) {
  const { tr } = useT();
  const [mode, setMode] = useState<Mode>("named");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const publish = async () => {
    setBusy(true);
    setError(null);
    try {
      await api("POST", `/api/runs/${runId}/submissions`, { mode });
      setDone(true);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      open={open}
      title={tr("提交到排行榜", "Publish to the leaderboard")}
      onCancel={() => {
        setDone(false);
        setError(null);
        onClose();
      }}
      onOk={() => void publish()}
      okText={tr("提交", "Publish")}
      okButtonProps={{ loading: busy, disabled: done, ...{ "data-testid": "publish-confirm" } }}
    >
      <Radio.Group value={mode} onChange={(e) => setMode(e.target.value as Mode)} disabled={done}>
        <Space direction="vertical">
          <Radio value="named" data-testid="publish-mode-named">
            {tr("具名提交:展示真实姓名与组织单位", "Named: shows your real name and organization")}
          </Radio>
          <Radio value="anonymous" data-testid="publish-mode-anonymous">
            {tr("匿名提交:姓名与组织单位显示为“匿名”", "Anonymous: both shown as 匿名")}
          </Radio>
        </Space>
      </Radio.Group>
      {error && <Alert style={{ marginTop: 12 }} type="error" showIcon message={error} data-testid="form-error" />}
      {done && (
        <Alert
          style={{ marginTop: 12 }}
          type="success"
          showIcon
          data-testid="publish-done"
          message={
            <Typography.Text>
              {tr("已提交。", "Published. ")}
              <Link to={`/leaderboards/${domain}`} data-testid="publish-board-link">
                {tr("查看排行榜", "Open the leaderboard")}
              </Link>
            </Typography.Text>
          }
        />
      )}
    </Modal>
  );
}
