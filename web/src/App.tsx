import { lazy, Suspense } from "react";
import { Navigate, Route, Routes } from "react-router-dom";
import { Spin } from "antd";
import AppLayout from "./layout/AppLayout";
import { RequireAdmin, RequireApproved, RequireAuth } from "./auth/guards";
import { useAuth } from "./auth/useAuth";
import { extraRoutes } from "./routes.extra";

const LoginPage = lazy(() => import("./pages/LoginPage"));
const RegisterPage = lazy(() => import("./pages/RegisterPage"));
const ProfilePage = lazy(() => import("./pages/ProfilePage"));
const AdminUsersPage = lazy(() => import("./pages/AdminUsersPage"));
const ConsolePage = lazy(() => import("./pages/ConsolePage"));
const CreateEvaluationPage = lazy(() => import("./pages/create/CreateEvaluationPage"));
const EvaluationDetailPage = lazy(() => import("./pages/detail/EvaluationDetailPage"));
const NotFoundPage = lazy(() => import("./pages/NotFoundPage"));
const RunRedirectPage = lazy(() => import("./pages/RunRedirectPage"));

function Home() {
  const { user, loading } = useAuth();
  if (loading) return <Spin style={{ display: "block", margin: 48 }} />;
  return <Navigate to={user ? "/console" : "/login"} replace />;
}

export default function App() {
  return (
    <Suspense fallback={<Spin style={{ display: "block", margin: 48 }} />}>
      <Routes>
        <Route element={<AppLayout />}>
          <Route path="/" element={<Home />} />
          <Route path="/login" element={<LoginPage />} />
          <Route path="/register" element={<RegisterPage />} />
          <Route path="/profile" element={<RequireAuth><ProfilePage /></RequireAuth>} />
          <Route path="/admin/users" element={<RequireAdmin><AdminUsersPage /></RequireAdmin>} />
          <Route path="/console" element={<RequireApproved><ConsolePage /></RequireApproved>} />
          <Route
            path="/console/evaluations/new"
            element={<RequireApproved><CreateEvaluationPage /></RequireApproved>}
          />
          <Route
            path="/console/evaluations/:id"
            element={<RequireApproved><EvaluationDetailPage /></RequireApproved>}
          />
          <Route
            path="/console/runs/:id"
            element={<RequireApproved><RunRedirectPage /></RequireApproved>}
          />
          {extraRoutes.map((r) => (
            <Route key={r.path} path={r.path} element={r.element} />
          ))}
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
