import { useCallback, useEffect, useState } from "react";
import { Alert, Button, Card, Col, Empty, Input, Modal, Row, Segmented, Space, Spin, Tag, Typography, App } from "antd";
import { CheckOutlined, CloseOutlined, ReloadOutlined } from "@ant-design/icons";
import { api, errorText } from "../../api/client";
import { useT } from "../../i18n";
import { RequireAdmin } from "../../auth/guards";
import { DockerfileView, FindingsList } from "../../components/extra/FindingsList";
import { fmtTime } from "./common";
import { useImageStatus } from "./ImagesPage";
import type { AdminImage } from "./types";

type StatusFilter = "pending_review" | "approved" | "imported" | "rejected" | "all";

export default function AdminImagesPage() {
  return (
    <RequireAdmin>
      <AdminImages />
    </RequireAdmin>
  );
}

function AdminImages() {
  const { message } = App.useApp();
  const { tr } = useT();
  const statusOf = useImageStatus();
  const [filter, setFilter] = useState<StatusFilter>("pending_review");
  const [images, setImages] = useState<AdminImage[]>([]);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [rejecting, setRejecting] = useState<AdminImage | null>(null);
  const [reason, setReason] = useState("");
  const [reasonError, setReasonError] = useState<string | null>(null);

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      const q = filter === "all" ? "" : `?status=${filter}`;
      setImages(await api<AdminImage[]>("GET", `/api/admin/images${q}`));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, [filter]);

  useEffect(() => {
    void load();
  }, [load]);

  const review = async (image: AdminImage, decision: "approve" | "reject", why?: string) => {
    setBusy(image.id);
    try {
      const body: { decision: string; reason?: string } = { decision };
      if (why) body.reason = why;
      await api<AdminImage>("POST", `/api/admin/images/${image.id}/review`, body);
      message.success(
        decision === "approve"
          ? tr(`已通过 ${image.name}:${image.tag}`, `Approved ${image.name}:${image.tag}`)
          : tr(`已驳回 ${image.name}:${image.tag}`, `Rejected ${image.name}:${image.tag}`),
      );
      await load();
      return true;
    } catch (e) {
      message.error(errorText(e));
      return false;
    } finally {
      setBusy(null);
    }
  };

  const confirmReject = async () => {
    if (!rejecting) return;
    const why = reason.trim();
    if (!why) {
      setReasonError(tr("驳回必须填写原因", "A reason is required to reject"));
      return;
    }
    if (why.length > 500) {
      setReasonError(tr("原因不能超过 500 个字符", "The reason must be at most 500 characters"));
      return;
    }
    if (await review(rejecting, "reject", why)) {
      setRejecting(null);
      setReason("");
    }
  };

  return (
    <div>
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {tr("镜像审核", "Image review")}
        </Typography.Title>
        <Space>
          <Segmented<StatusFilter>
            value={filter}
            onChange={(v) => setFilter(v)}
            data-testid="admin-image-filter"
            options={[
              { value: "pending_review", label: tr("待审核", "Pending") },
              { value: "approved", label: tr("已通过", "Approved") },
              { value: "imported", label: tr("已导入", "Imported") },
              { value: "rejected", label: tr("已驳回", "Rejected") },
              { value: "all", label: tr("全部", "All") },
            ]}
          />
          <Button icon={<ReloadOutlined />} onClick={() => void load()}>
            {tr("刷新", "Refresh")}
          </Button>
        </Space>
      </Space>
      {error ? <Alert type="error" showIcon message={error} style={{ marginTop: 16 }} data-testid="form-error" /> : null}
      <Spin spinning={loading}>
        <div data-testid="admin-images-list" style={{ marginTop: 16, minHeight: 80 }}>
          {images.length === 0 && !loading ? (
            <Empty description={tr("没有待处理的镜像", "No images here")} />
          ) : null}
          {images.map((img) => {
            const st = statusOf(img.status);
            const blocking = img.findings.filter((f) => f.severity === "blocking").length;
            return (
              <Card
                key={img.id}
                size="small"
                style={{ marginBottom: 16 }}
                data-testid="admin-image-row"
                data-status={img.status}
                data-name={img.name}
                title={
                  <Space wrap>
                    <Typography.Text code>
                      {img.name}:{img.tag}
                    </Typography.Text>
                    <Tag color={st.color} data-status={img.status}>
                      {st.label}
                    </Tag>
                    {blocking ? (
                      <Tag color="red">{tr(`${blocking} 个阻断问题`, `${blocking} blocking`)}</Tag>
                    ) : null}
                  </Space>
                }
                extra={
                  img.status === "pending_review" ? (
                    <Space>
                      <Button
                        type="primary"
                        icon={<CheckOutlined />}
                        loading={busy === img.id}
                        data-testid="admin-image-approve"
                        onClick={() => void review(img, "approve")}
                      >
                        {tr("通过", "Approve")}
                      </Button>
                      <Button
                        danger
                        icon={<CloseOutlined />}
                        disabled={busy === img.id}
                        data-testid="admin-image-reject"
                        onClick={() => {
                          setRejecting(img);
                          setReason("");
                          setReasonError(null);
                        }}
                      >
                        {tr("驳回", "Reject")}
                      </Button>
                    </Space>
                  ) : null
                }
              >
                <Space direction="vertical" style={{ width: "100%" }} size={4}>
                  <Typography.Text>
                    <Typography.Text type="secondary">{tr("申请人:", "Requested by: ")}</Typography.Text>
                    {img.owner_username ?? img.owner_id} · {fmtTime(img.created_at)}
                  </Typography.Text>
                  <Typography.Text>
                    <Typography.Text type="secondary">{tr("来源:", "Source: ")}</Typography.Text>
                    <Typography.Text code>{img.source_url}</Typography.Text>
                  </Typography.Text>
                  {img.description ? (
                    <Typography.Text>
                      <Typography.Text type="secondary">{tr("描述:", "Description: ")}</Typography.Text>
                      {img.description}
                    </Typography.Text>
                  ) : null}
                  {img.reason ? (
                    <Typography.Text type="danger">
                      {tr("驳回原因:", "Reason: ")}
                      {img.reason}
                    </Typography.Text>
                  ) : null}
                  {img.registry_ref ? (
                    <Typography.Text>
                      <Typography.Text type="secondary">{tr("平台镜像:", "Platform reference: ")}</Typography.Text>
                      <Typography.Text code>{img.registry_ref}</Typography.Text>
                    </Typography.Text>
                  ) : null}
                </Space>
                <Row gutter={16} style={{ marginTop: 12 }}>
                  <Col xs={24} lg={12}>
                    <Typography.Text strong>Dockerfile</Typography.Text>
                    <DockerfileView text={img.dockerfile} findings={img.findings} />
                  </Col>
                  <Col xs={24} lg={12}>
                    <Typography.Text strong>{tr("自动检查结果", "Automatic findings")}</Typography.Text>
                    <FindingsList findings={img.findings} testId="admin-image-findings" />
                  </Col>
                </Row>
              </Card>
            );
          })}
        </div>
      </Spin>
      <Modal
        open={rejecting !== null}
        title={tr(
          `驳回 ${rejecting?.name ?? ""}:${rejecting?.tag ?? ""}`,
          `Reject ${rejecting?.name ?? ""}:${rejecting?.tag ?? ""}`,
        )}
        onCancel={() => setRejecting(null)}
        onOk={() => void confirmReject()}
        okText={tr("驳回", "Reject")}
        cancelText={tr("取消", "Cancel")}
        okButtonProps={{ danger: true, loading: busy !== null, ...({ "data-testid": "admin-image-reject-confirm" } as object) }}
        destroyOnHidden
      >
        <Typography.Paragraph type="secondary">
          {tr("申请人会在通知和邮件中看到此原因。", "The requester sees this reason in the notification and email.")}
        </Typography.Paragraph>
        <Input.TextArea
          rows={4}
          value={reason}
          maxLength={500}
          showCount
          autoFocus
          data-testid="admin-image-reject-reason"
          status={reasonError ? "error" : undefined}
          placeholder={tr("例如:基础镜像不是平台提供的候选镜像", "e.g. the base image is not a platform-provided candidate")}
          onChange={(e) => {
            setReason(e.target.value);
            setReasonError(null);
          }}
        />
        {reasonError ? (
          <Typography.Text type="danger" data-testid="form-error">
            {reasonError}
          </Typography.Text>
        ) : null}
      </Modal>
    </div>
  );
}
