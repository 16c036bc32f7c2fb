import { useCallback, useEffect, useState } from "react";
import { Alert, Card, Col, Row, Space, Spin } from "antd";
import { useParams, useSearchParams } from "react-router-dom";
import { api, errorText } from "../../api/client";
import type { Catalog, Evaluation, RunSummary } from "../../api/types";
import { useT } from "../../i18n";
import { usePolling } from "../../components/usePolling";
import ActionBar from "./ActionBar";
import EditDialog from "./EditDialog";
import ParamsView from "./ParamsView";
import RunHistory from "./RunHistory";
import RunPanel from "./RunPanel";

export default function EvaluationDetailPage() {
  const { id = "" } = useParams<{ id: string }>();
  // ?run=<id> (the link of a run's email) selects that run instead of the newest.
  const [search] = useSearchParams();
  const wanted = search.get("run");
  const { tr } = useT();
  const [evaluation, setEvaluation] = useState<Evaluation | null>(null);
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [runsLoading, setRunsLoading] = useState(true);
  const [selected, setSelected] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);

  useEffect(() => {
    setEvaluation(null);
    setSelected(wanted);
    api<Evaluation>("GET", `/api/evaluations/${id}`).then(setEvaluation).catch((e: unknown) => setError(errorText(e)));
    api<Catalog>("GET", "/api/catalog").then(setCatalog).catch(() => setCatalog(null));
  }, [id, wanted]);

  const loadRuns = useCallback(async () => {
    try {
      const list = await api<RunSummary[]>("GET", `/api/evaluations/${id}/runs`);
      setRuns(list);
      setSelected((cur) => cur ?? list[0]?.id ?? null);
    } catch {
      /* keep the last list */
    } finally {
      setRunsLoading(false);
    }
  }, [id]);

  usePolling(loadRuns, 5000, true, [id]);

  if (error) return <Alert type="error" showIcon message={error} data-testid="form-error" />;
  if (!evaluation) return <Spin style={{ display: "block", margin: 48 }} />;
  const hasValidation = catalog ? catalog.domains[evaluation.domain]?.has_validation !== false : !["audio", "safety"].includes(evaluation.domain);

  return (
    <Space direction="vertical" size="middle" style={{ width: "100%" }}>
      <Card
        title={tr("评测详情", "Evaluation")}
        extra={
          <ActionBar
            evaluation={evaluation}
            hasValidation={hasValidation}
            onEdit={() => setEditing(true)}
            onRunStarted={(run) => {
              setSelected(run.id);
              void loadRuns();
            }}
          />
        }
      >
        <ParamsView evaluation={evaluation} catalog={catalog} />
      </Card>
      <Row gutter={16}>
        <Col xs={24} lg={10}>
          <RunHistory runs={runs} loading={runsLoading} selectedId={selected} onSelect={setSelected} onChanged={() => void loadRuns()} />
        </Col>
        <Col xs={24} lg={14}>
          <RunPanel runId={selected} domain={evaluation.domain} onStatusChange={() => void loadRuns()} />
        </Col>
      </Row>
      {catalog && (
        <EditDialog
          open={editing}
          evaluation={evaluation}
          catalog={catalog}
          onClose={() => setEditing(false)}
          onSaved={(e) => {
            setEvaluation(e);
            setEditing(false);
          }}
        />
      )}
    </Space>
  );
}
