import { useState } from "react";
import { App, Button, Card, Form, Input } from "antd";
import { Link, useNavigate } from "react-router-dom";
import { api, errorText } from "../api/client";
import type { User } from "../api/types";
import { useAuth } from "../auth/useAuth";
import { useT } from "../i18n";
import FormError from "../components/FormError";

interface RegisterForm {
  email: string;
  username: string;
  password: string;
}

export default function RegisterPage() {
  const { login } = useAuth();
  const { t, tr } = useT();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (v: RegisterForm) => {
    setBusy(true);
    setError(null);
    try {
      await api<User>("POST", "/api/auth/register", {
        email: v.email.trim(),
        username: v.username.trim(),
        password: v.password,
      });
      await login(v.email.trim(), v.password);
      message.success(tr("注册成功,请完善个人信息", "Registered; please complete your profile"));
      navigate("/profile", { replace: true });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title={t("nav.register")} style={{ maxWidth: 420, margin: "48px auto" }}>
      <FormError error={error} />
      <Form<RegisterForm> layout="vertical" onFinish={submit}>
        <Form.Item name="email" label={t("field.email")} rules={[{ required: true }, { type: "email" }]}>
          <Input data-testid="register-email" autoComplete="email" />
        </Form.Item>
        <Form.Item name="username" label={t("field.username")} rules={[{ required: true }]}>
          <Input data-testid="register-username" autoComplete="username" />
        </Form.Item>
        <Form.Item name="password" label={t("field.password")} rules={[{ required: true }]}>
          <Input.Password data-testid="register-password" autoComplete="new-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" loading={busy} block data-testid="register-submit">
          {t("nav.register")}
        </Button>
      </Form>
      <div style={{ marginTop: 16 }}>
        {tr("已有账号?", "Already registered?")} <Link to="/login">{t("nav.login")}</Link>
      </div>
    </Card>
  );
}
