import { Suspense } from "react";
import { Button, Layout, Menu, Space, Spin, Typography } from "antd";
import type { MenuProps } from "antd";
import { Link, Outlet, useLocation, useNavigate } from "react-router-dom";
import { useAuth } from "../auth/useAuth";
import { useT } from "../i18n";
import { extraRoutes } from "../routes.extra";
import { NotificationsBadge } from "../components/extra/NotificationsBadge";

interface NavItem {
  key: string;
  path: string;
  label: string;
  testId: string;
}

function useNavItems(): NavItem[] {
  const { user, isAdmin } = useAuth();
  const { t, lang } = useT();
  const items: NavItem[] = [];
  const extra = (admin: boolean) =>
    extraRoutes
      .filter((r) => r.navKey && Boolean(r.admin) === admin)
      .map((r) => ({
        key: r.navKey as string,
        path: r.path.replace(/\/:[^/]+\??$/, ""),
        label: r.navLabel ? r.navLabel[lang] : (r.navKey as string),
        testId: r.testId ?? `nav-${r.navKey}`,
      }));
  if (user) items.push({ key: "console", path: "/console", label: t("nav.console"), testId: "nav-console" });
  // Logged out, only the public pages (the leaderboards) are offered.
  items.push(...extra(false).filter((item) => user || item.key === "leaderboards"));
  if (isAdmin) {
    items.push({ key: "admin-users", path: "/admin/users", label: t("nav.adminUsers"), testId: "nav-admin-users" });
    items.push(...extra(true));
  }
  return items;
}

function UserArea() {
  const { user, logout } = useAuth();
  const { t, lang, toggle } = useT();
  const navigate = useNavigate();
  return (
    <Space>
      <Button size="small" data-testid="lang-switch" onClick={toggle}>
        {lang === "zh" ? "English" : "中文"}
      </Button>
      {user ? (
        <>
          <span style={{ color: "#fff" }}>
            <NotificationsBadge />
          </span>
          <Link to="/profile" data-testid="nav-profile" style={{ color: "#fff" }}>
            {user.username}
          </Link>
          <Button
            size="small"
            data-testid="nav-logout"
            onClick={() => {
              logout();
              navigate("/login");
            }}
          >
            {t("nav.logout")}
          </Button>
        </>
      ) : (
        <>
          <Link to="/login" style={{ color: "#fff" }}>{t("nav.login")}</Link>
          <Link to="/register" style={{ color: "#fff" }}>{t("nav.register")}</Link>
        </>
      )}
    </Space>
  );
}

export default function AppLayout() {
  const { t } = useT();
  const location = useLocation();
  const items = useNavItems();
  const selected = items
    .filter((i) => location.pathname === i.path || location.pathname.startsWith(i.path + "/"))
    .sort((a, b) => b.path.length - a.path.length)
    .slice(0, 1)
    .map((i) => i.key);
  const menuItems: MenuProps["items"] = items.map((i) => ({
    key: i.key,
    label: (
      <Link to={i.path} data-testid={i.testId}>
        {i.label}
      </Link>
    ),
  }));
  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Layout.Header style={{ display: "flex", alignItems: "center", gap: 24, paddingInline: 24 }}>
        <Link to="/">
          <Typography.Text strong style={{ color: "#fff", fontSize: 18, whiteSpace: "nowrap" }}>
            {t("app.title")}
          </Typography.Text>
        </Link>
        <Menu
          theme="dark"
          mode="horizontal"
          selectedKeys={selected}
          items={menuItems}
          disabledOverflow
          style={{ flex: 1, minWidth: 0 }}
        />
        <UserArea />
      </Layout.Header>
      <Layout.Content style={{ padding: 24 }}>
        <Suspense fallback={<Spin style={{ display: "block", margin: 48 }} />}>
          <Outlet />
        </Suspense>
      </Layout.Content>
    </Layout>
  );
}
