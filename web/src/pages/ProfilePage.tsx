import { useState } from "react";
import { Alert, App, Button, Card, Form, Input } from "antd";
import { api, errorText } from "../api/client";
import type { Profile, User, UserStatus } from "../api/types";
import { useAuth } from "../auth/useAuth";
import { useT } from "../i18n";
import FormError from "../components/FormError";
import { applyFieldErrors } from "../api/fieldErrors";

function StatusBanner({ user }: { user: User }) {
  const { tr } = useT();
  const text: Record<UserStatus, [string, "info" | "warning" | "success" | "error"]> = {
    registered: [tr("请完善个人信息并提交审核", "Please complete your profile and submit it for review"), "info"],
    pending_review: [tr("等待审核:管理员审核通过后即可创建评测", "Waiting for review: an administrator will approve your account"), "warning"],
    approved: [tr("已审核通过", "Approved"), "success"],
    rejected: [tr("审核未通过", "Rejected"), "error"],
  };
  const [msg, type] = text[user.status];
  return (
    <Alert
      data-testid="account-status"
      data-status={user.status}
      type={type}
      showIcon
      style={{ marginBottom: 16 }}
      message={msg}
      description={
        user.status === "rejected" && user.review_reason
          ? `${tr("原因", "Reason")}: ${user.review_reason}`
          : undefined
      }
    />
  );
}

export default function ProfilePage() {
  const { user, setUser } = useAuth();
  const { tr } = useT();
  const { message } = App.useApp();
  const [form] = Form.useForm<Profile>();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!user) return null;

  const submit = async (v: Profile) => {
    setBusy(true);
    setError(null);
    try {
      const body: Profile = {
        real_name: v.real_name.trim(),
        organization: v.organization.trim(),
        title: v.title?.trim() || null,
        phone: v.phone?.trim() || null,
        purpose: v.purpose?.trim() || null,
      };
      setUser(await api<User>("PUT", "/api/me/profile", body));
      message.success(tr("已提交", "Saved"));
    } catch (e) {
      applyFieldErrors(form, e);
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title={tr("个人信息", "Profile")} style={{ maxWidth: 640, margin: "0 auto" }}>
      <StatusBanner user={user} />
      <p>
        {user.email} · {user.username}
      </p>
      <FormError error={error} />
      <Form<Profile> form={form} layout="vertical" initialValues={user.profile ?? {}} onFinish={submit}>
        <Form.Item name="real_name" label={tr("真实姓名", "Real name")} rules={[{ required: true }]}>
          <Input data-testid="profile-real-name" />
        </Form.Item>
        <Form.Item name="organization" label={tr("组织单位", "Organization")} rules={[{ required: true }]}>
          <Input data-testid="profile-organization" />
        </Form.Item>
        <Form.Item name="title" label={tr("职务/职称", "Title / position")}>
          <Input data-testid="profile-title" />
        </Form.Item>
        <Form.Item name="phone" label={tr("电话", "Phone")}>
          <Input data-testid="profile-phone" />
        </Form.Item>
        <Form.Item name="purpose" label={tr("评测目的", "Purpose")}>
          <Input.TextArea data-testid="profile-purpose" rows={3} />
        </Form.Item>
        <Button type="primary" htmlType="submit" loading={busy} data-testid="profile-submit">
          {tr("提交", "Submit")}
        </Button>
      </Form>
    </Card>
  );
}
