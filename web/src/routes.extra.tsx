import { lazy, type ReactNode } from "react";
import { Navigate } from "react-router-dom";

/**
 * Extra routes and nav items, filled by the pages under src/pages/extra/.
 * The router renders every entry inside the app layout; entries with `navKey`
 * also get a header nav item (`data-testid` = `testId`). `admin: true` entries
 * show in the nav only for admins.
 */
export interface ExtraRoute {
  path: string;
  element: ReactNode;
  navKey?: string;
  navLabel?: { zh: string; en: string };
  testId?: string;
  admin?: boolean;
}

// Each page guards itself (leaderboards are public; images need an approved user;
// notifications a signed-in one; admin pages an administrator).
const LeaderboardPage = lazy(() => import("./pages/extra/LeaderboardPage"));
const ImagesPage = lazy(() => import("./pages/extra/ImagesPage"));
const NotificationsPage = lazy(() => import("./pages/extra/NotificationsPage"));
const AdminImagesPage = lazy(() => import("./pages/extra/AdminImagesPage"));
const AdminDatasetsPage = lazy(() => import("./pages/extra/AdminDatasetsPage"));

export const extraRoutes: ExtraRoute[] = [
  { path: "/leaderboards", element: <Navigate to="/leaderboards/nlp" replace /> },
  {
    path: "/leaderboards/:domain",
    element: <LeaderboardPage />,
    navKey: "leaderboards",
    navLabel: { zh: "排行榜", en: "Leaderboards" },
    testId: "nav-leaderboards",
  },
  {
    path: "/images",
    element: <ImagesPage />,
    navKey: "images",
    navLabel: { zh: "镜像", en: "Images" },
    testId: "nav-images",
  },
  {
    path: "/notifications",
    element: <NotificationsPage />,
    navKey: "notifications",
    navLabel: { zh: "通知", en: "Notifications" },
    testId: "nav-notifications",
  },
  {
    path: "/admin/images",
    element: <AdminImagesPage />,
    navKey: "admin-images",
    navLabel: { zh: "镜像审核", en: "Image review" },
    testId: "nav-admin-images",
    admin: true,
  },
  {
    path: "/admin/datasets",
    element: <AdminDatasetsPage />,
    navKey: "admin-datasets",
    navLabel: { zh: "数据集管理", en: "Datasets" },
    testId: "nav-admin-datasets",
    admin: true,
  },
];
