import { Alert, Button, Result, Spin } from "antd";
import type { ReactNode } from "react";
import { Link, Navigate, useLocation } from "react-router-dom";
import { useT } from "../i18n";
import { useAuth } from "./useAuth";

/** Renders children when signed in; otherwise redirects to /login (remembering where to come back). */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { user, loading } = useAuth();
  const location = useLocation();
  if (loading) return <Spin style={{ display: "block", margin: 48 }} />;
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

/** The "waiting for review" notice (links to /profile). */
export function WaitingForReview() {
  const { t } = useT();
  const { user } = useAuth();
  return (
    <div data-testid="waiting-review" data-status={user?.status}>
    <Result
      status="info"
      title={t("waiting.title")}
      subTitle={
        <>
          {t("waiting.body")}
          {user && (
            <Alert style={{ marginTop: 12 }} type="warning" message={`status: ${user.status}`} />
          )}
        </>
      }
      extra={
        <Link to="/profile">
          <Button type="primary">{t("waiting.link")}</Button>
        </Link>
      }
    />
    </div>
  );
}

/** Signed in AND approved; unapproved users see the waiting-for-review notice. */
export function RequireApproved({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  return (
    <RequireAuth>{user && user.status !== "approved" ? <WaitingForReview /> : children}</RequireAuth>
  );
}

/** Signed in as an admin; others get a 403 notice. */
export function RequireAdmin({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const { tr } = useT();
  return (
    <RequireAuth>
      {user && user.role !== "admin" ? (
        <Result status="403" title="403" subTitle={tr("仅管理员可访问", "Administrators only")} />
      ) : (
        children
      )}
    </RequireAuth>
  );
}
