import { useCallback, useEffect, useMemo, useState, type HTMLAttributes } from "react";
import { Navigate, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { Alert, Button, Card, Drawer, Empty, Space, Table, Tabs, Tag, Tooltip, Typography } from "antd";
import type { ColumnsType, SorterResult } from "antd/es/table/interface";
import { ReloadOutlined, SafetyCertificateOutlined } from "@ant-design/icons";
import type { EChartsCoreOption } from "echarts/core";
import { api, errorText } from "../../api/client";
import { useT } from "../../i18n";
import EChart from "../../components/EChart";
import { ReproCard } from "../../components/extra/ReproCard";
import { HiddenEntries, HideEntryDialog } from "../../components/extra/BoardAdmin";
import { useAuth } from "../../auth/useAuth";
import { DOMAINS, fmtScore, fmtTime, isDomain, testId, useDomainLabel } from "./common";
import type { Board, BoardColumn, BoardRow, Catalog } from "./types";

type Order = "asc" | "desc";

const ANONYMOUS = "匿名";

/** Names of datasets and tasks from the public catalog (ids stand in when it is unavailable). */
function useCatalogNames(): { dataset: (id: string) => string; task: (id: string) => string } {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  useEffect(() => {
    let live = true;
    api<Catalog>("GET", "/api/catalog")
      .then((c) => live && setCatalog(c))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return useMemo(() => {
    const datasets = new Map<string, string>();
    const tasks = new Map<string, string>();
    for (const domain of Object.values(catalog?.domains ?? {})) {
      for (const d of domain.datasets ?? []) datasets.set(d.id, d.name);
      for (const t of domain.tasks ?? []) tasks.set(t.id, t.name);
    }
    return {
      dataset: (id: string) => datasets.get(id) ?? id,
      task: (id: string) => tasks.get(id) ?? id,
    };
  }, [catalog]);
}

function columnValue(row: BoardRow, column: BoardColumn): number | null {
  if (column.kind === "dataset") return row.scores?.[column.id ?? ""] ?? null;
  if (column.kind === "task") return row.task_averages?.[column.id ?? ""] ?? null;
  return row.overall;
}

export default function LeaderboardPage() {
  const params = useParams<{ domain: string }>();
  if (!isDomain(params.domain)) return <Navigate to="/leaderboards/nlp" replace />;
  return <DomainBoard key={params.domain} domain={params.domain} />;
}

function DomainBoard({ domain }: { domain: string }) {
  const { tr } = useT();
  const navigate = useNavigate();
  const domainLabel = useDomainLabel();
  const names = useCatalogNames();
  const [search, setSearch] = useSearchParams();
  const sort = search.get("sort") || "overall";
  const orderParam = search.get("order");
  const order: Order | undefined = orderParam === "asc" || orderParam === "desc" ? orderParam : undefined;

  const [board, setBoard] = useState<Board | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [repro, setRepro] = useState<BoardRow | null>(null);
  const { isAdmin } = useAuth();
  const [hiding, setHiding] = useState<BoardRow | null>(null);
  const [adminVersion, setAdminVersion] = useState(0);

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      const q = new URLSearchParams({ sort });
      if (order) q.set("order", order);
      setBoard(await api<Board>("GET", `/api/leaderboards/${domain}?${q.toString()}`));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, [domain, sort, order]);

  useEffect(() => {
    void load();
  }, [load]);

  // A board whose tasks are all lower-is-better (audio: WER) has no overall score: without an
  // explicit sort, order it by its first task column instead of leaving every row unranked.
  useEffect(() => {
    if (!board || search.get("sort") || board.rows.length === 0) return;
    if (board.rows.some((r) => r.overall !== null && r.overall !== undefined)) return;
    const first = board.columns.find((c) => c.kind === "task") ?? board.columns.find((c) => c.kind === "dataset");
    if (!first) return;
    const q = new URLSearchParams(search);
    q.set("sort", first.key);
    q.set("order", first.better === "higher" ? "desc" : "asc");
    setSearch(q, { replace: true });
  }, [board, search, setSearch]);

  const betterOf = useCallback(
    (key: string): "higher" | "lower" => {
      if (key === "submitted_at") return "lower";
      return board?.columns.find((c) => c.key === key)?.better ?? "higher";
    },
    [board],
  );

  // The order the table shows: the API's default is the column's better direction.
  const effectiveOrder: Order = order ?? (betterOf(sort) === "higher" ? "desc" : "asc");

  const setSorting = (key: string | null, next: Order | null) => {
    const q = new URLSearchParams(search);
    if (!key || !next) {
      q.delete("sort");
      q.delete("order");
    } else {
      q.set("sort", key);
      q.set("order", next);
    }
    setSearch(q, { replace: true });
  };

  const sortProps = (key: string, better: "higher" | "lower") => ({
    key,
    sorter: true,
    // First click: better first.
    sortDirections: (better === "higher" ? ["descend", "ascend"] : ["ascend", "descend"]) as (
      | "ascend"
      | "descend"
    )[],
    sortOrder: sort === key ? (effectiveOrder === "asc" ? ("ascend" as const) : ("descend" as const)) : null,
    onHeaderCell: () => testId<HTMLAttributes<HTMLElement>>("leaderboard-sort", { "data-column": key }),
  });

  const columns = useMemo<ColumnsType<BoardRow>>(() => {
    const arrow = (better: "higher" | "lower") => (better === "higher" ? "↑" : "↓");
    const betterHint = (better: "higher" | "lower") =>
      better === "higher" ? tr("越高越好", "higher is better") : tr("越低越好", "lower is better");
    const cols: ColumnsType<BoardRow> = [
      {
        title: tr("排名", "Rank"),
        dataIndex: "rank",
        key: "rank",
        width: 70,
        fixed: "left",
        render: (rank: number | null) =>
          rank === null ? (
            <Typography.Text type="secondary">—</Typography.Text>
          ) : rank <= 3 ? (
            <Tag color={["gold", "default", "orange"][rank - 1]} data-testid="leaderboard-rank">
              {rank}
            </Tag>
          ) : (
            <span data-testid="leaderboard-rank">{rank}</span>
          ),
      },
      {
        title: tr("模型", "Model"),
        dataIndex: "model_name",
        key: "model_name",
        fixed: "left",
        render: (v: string) => <Typography.Text strong>{v}</Typography.Text>,
      },
      {
        title: tr("提交者", "Submitter"),
        dataIndex: "submitter",
        key: "submitter",
        render: (v: string) => (v === ANONYMOUS ? <Tag>{ANONYMOUS}</Tag> : v),
      },
      {
        title: tr("机构", "Organization"),
        dataIndex: "organization",
        key: "organization",
        render: (v: string | null) => (v === ANONYMOUS ? <Tag>{ANONYMOUS}</Tag> : v || "—"),
      },
    ];
    for (const c of board?.columns ?? []) {
      const label =
        c.kind === "dataset"
          ? names.dataset(c.id ?? "")
          : c.kind === "task"
            ? `${tr("平均", "Avg")} · ${names.task(c.id ?? "")}`
            : tr("总分", "Overall");
      const sub = c.kind === "dataset" ? c.metric : c.kind === "task" ? names.task(c.id ?? "") : null;
      cols.push({
        title: (
          <Tooltip
            title={
              <>
                {c.kind === "dataset" ? `${c.id} · ${c.metric ?? ""} · ` : ""}
                {c.kind === "task" && c.datasets?.length ? `${c.datasets.join(", ")} · ` : ""}
                {betterHint(c.better)}
              </>
            }
          >
            <span>
              {label} <Typography.Text type="secondary">{arrow(c.better)}</Typography.Text>
              {c.kind === "dataset" && sub ? (
                <div>
                  <Typography.Text type="secondary" style={{ fontSize: 12, fontWeight: "normal" }}>
                    {sub}
                  </Typography.Text>
                </div>
              ) : null}
            </span>
          </Tooltip>
        ),
        align: "right",
        ...sortProps(c.key, c.better),
        className: c.kind === "overall" ? "leaderboard-overall" : undefined,
        render: (_: unknown, row: BoardRow) => {
          const v = columnValue(row, c);
          const text = fmtScore(v);
          return c.kind === "overall" ? <Typography.Text strong>{text}</Typography.Text> : text;
        },
      });
    }
    cols.push(
      {
        title: tr("提交时间", "Submitted"),
        dataIndex: "submitted_at",
        ...sortProps("submitted_at", "lower"),
        render: (v: string) => fmtTime(v),
      },
      {
        title: tr("可复现信息", "Reproducibility"),
        key: "repro",
        fixed: "right",
        render: (_: unknown, row: BoardRow) => (
          <Button
            size="small"
            icon={<SafetyCertificateOutlined />}
            data-testid="repro-open"
            onClick={(e) => {
              e.stopPropagation();
              setRepro(row);
            }}
          >
            {tr("复现卡片", "Card")}
          </Button>
        ),
      },
    );
    if (isAdmin) {
      cols.push({
        title: tr("管理", "Admin"),
        key: "admin",
        render: (_: unknown, row: BoardRow) => (
          <Button
            size="small"
            danger
            data-testid="leaderboard-hide"
            onClick={(e) => {
              e.stopPropagation();
              setHiding(row);
            }}
          >
            {tr("隐藏", "Hide")}
          </Button>
        ),
      });
    }
    return cols;
    // sortProps depends on sort/effectiveOrder, listed here.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [board, names, tr, sort, effectiveOrder, isAdmin]);

  const chartOption = useMemo<EChartsCoreOption | null>(() => {
    const top = (board?.rows ?? [])
      .filter((r) => r.overall !== null && r.overall !== undefined)
      .sort((a, b) => (b.overall ?? 0) - (a.overall ?? 0))
      .slice(0, 10)
      .reverse();
    if (top.length === 0) return null;
    return {
      grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: top.map((r) => r.model_name) },
      series: [
        {
          type: "bar",
          name: tr("总分", "Overall"),
          data: top.map((r) => Number((r.overall ?? 0).toFixed(4))),
          label: { show: true, position: "right" },
          itemStyle: { color: "#1677ff" },
        },
      ],
    };
  }, [board, tr]);

  return (
    <div>
      <Space style={{ width: "100%", justifyContent: "space-between" }} align="center">
        <Typography.Title level={3} style={{ margin: 0 }}>
          {tr("排行榜", "Leaderboards")}
        </Typography.Title>
        <Button icon={<ReloadOutlined />} onClick={() => void load()} data-testid="leaderboard-refresh">
          {tr("刷新", "Refresh")}
        </Button>
      </Space>
      <Tabs
        activeKey={domain}
        onChange={(key) => navigate(`/leaderboards/${key}`)}
        items={DOMAINS.map((d) => ({
          key: d,
          label: <span data-testid={`board-${d}`}>{domainLabel(d)}</span>,
        }))}
      />
      {error ? <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="form-error" /> : null}
      {chartOption ? (
        <Card size="small" title={tr("总分前十", "Top 10 by overall score")} style={{ marginBottom: 16 }}>
          <EChart option={chartOption} height={Math.max(160, 28 * Math.min(10, board?.rows.length ?? 0) + 40)} testId="leaderboard-chart" />
        </Card>
      ) : null}
      <div data-testid="leaderboard-table" data-domain={domain}>
        <Table<BoardRow>
          rowKey="id"
          loading={loading}
          columns={columns}
          dataSource={board?.rows ?? []}
          scroll={{ x: "max-content" }}
          pagination={{ pageSize: 50, hideOnSinglePage: true }}
          showSorterTooltip={false}
          locale={{ emptyText: <Empty description={tr("暂无上榜模型", "No entries yet")} /> }}
          onRow={(row) =>
            testId<HTMLAttributes<HTMLElement>>("leaderboard-row", {
              "data-rank": row.rank ?? "",
              "data-model": row.model_name,
            })
          }
          onChange={(_p, _f, sorter) => {
            const s = (Array.isArray(sorter) ? sorter[0] : sorter) as SorterResult<BoardRow> | undefined;
            const key = s?.columnKey ? String(s.columnKey) : null;
            const next = s?.order === "ascend" ? "asc" : s?.order === "descend" ? "desc" : null;
            setSorting(key, next);
          }}
        />
      </div>
      <Typography.Paragraph type="secondary" style={{ marginTop: 12, fontSize: 12 }}>
        {tr(
          "任务平均为该任务下数据集得分的均值;总分为越高越好的任务平均的均值。无对应分数的条目排在最后,不参与排名。",
          "A task average is the mean of its datasets' scores; the overall score is the mean of the higher-is-better task averages. Entries without a value in the sorted column come last, unranked.",
        )}
      </Typography.Paragraph>
      {isAdmin ? (
        <>
          <HiddenEntries domain={domain} version={adminVersion} onChange={() => void load()} />
          <HideEntryDialog
            entry={hiding}
            onClose={() => setHiding(null)}
            onDone={() => {
              setHiding(null);
              setAdminVersion((v) => v + 1);
              void load();
            }}
          />
        </>
      ) : null}
      <Drawer
        open={repro !== null}
        onClose={() => setRepro(null)}
        width={640}
        title={tr("可复现信息卡片", "Reproducibility card")}
        destroyOnHidden
      >
        {repro ? <ReproCard row={repro} /> : null}
      </Drawer>
    </div>
  );
}
