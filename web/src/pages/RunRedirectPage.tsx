import { useEffect, useState } from "react";
import { Alert, Spin } from "antd";
import { Navigate, useParams } from "react-router-dom";
import { api, errorText } from "../api/client";

/** `/console/runs/:id` — the link in a run's email: opens the run on its evaluation's page. */
export default function RunRedirectPage() {
  const { id = "" } = useParams<{ id: string }>();
  const [target, setTarget] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api<{ evaluation_id: string }>("GET", `/api/runs/${id}`)
      .then((run) => setTarget(`/console/evaluations/${run.evaluation_id}?run=${encodeURIComponent(id)}`))
      .catch((e: unknown) => setError(errorText(e)));
  }, [id]);

  if (error) return <Alert type="error" showIcon message={error} style={{ margin: 24 }} />;
  if (target) return <Navigate to={target} replace />;
  return <Spin style={{ display: "block", margin: 48 }} />;
}
