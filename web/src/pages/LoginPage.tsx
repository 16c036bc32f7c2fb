import { useState } from "react";
import { Button, Card, Form, Input } from "antd";
import { Link, Navigate, useLocation, useNavigate } from "react-router-dom";
import { errorText } from "../api/client";
import { useAuth } from "../auth/useAuth";
import { useT } from "../i18n";
import FormError from "../components/FormError";

interface LoginForm {
  email: string;
  password: string;
}

export default function LoginPage() {
  const { user, login } = useAuth();
  const { t, tr } = useT();
  const navigate = useNavigate();
  const location = useLocation();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const from = (location.state as { from?: string } | null)?.from;

  if (user) return <Navigate to={from ?? "/console"} replace />;

  const submit = async (v: LoginForm) => {
    setBusy(true);
    setError(null);
    try {
      const u = await login(v.email.trim(), v.password);
      navigate(from ?? (u.status === "approved" ? "/console" : "/profile"), { replace: true });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title={t("nav.login")} style={{ maxWidth: 420, margin: "48px auto" }}>
      <FormError error={error} />
      <Form<LoginForm> layout="vertical" onFinish={submit}>
        <Form.Item name="email" label={t("field.email")} rules={[{ required: true }]}>
          <Input data-testid="login-email" autoComplete="email" />
        </Form.Item>
        <Form.Item name="password" label={t("field.password")} rules={[{ required: true }]}>
          <Input.Password data-testid="login-password" autoComplete="current-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" loading={busy} block data-testid="login-submit">
          {t("nav.login")}
        </Button>
      </Form>
      <div style={{ marginTop: 16 }}>
        {tr("还没有账号?", "No account yet?")} <Link to="/register">{t("nav.register")}</Link>
      </div>
    </Card>
  );
}
