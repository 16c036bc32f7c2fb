import { Checkbox, Col, Row, Select, Space, Tag, Tooltip, Typography } from "antd";
import { hasData, type CatalogDataset, type CatalogDomain, type Domain, type TaskChoice } from "../../api/types";
import { useAuth } from "../../auth/useAuth";
import { useT } from "../../i18n";

/**
 * Datasets without data cannot be chosen (the API refuses them with a 422 too): hidden from
 * users, shown greyed with a "no data yet" tag to admins (who can attach data on
 * /admin/datasets). One already chosen (an older evaluation being edited) stays visible so it
 * can be unticked.
 */
function NoDataTag({ testId }: { testId: string }) {
  const { tr } = useT();
  return (
    <Tooltip title={tr("在“数据集管理”页面(/admin/datasets)为其添加数据", "Attach data on the admin datasets page (/admin/datasets)")}>
      <Tag color="default" data-testid={testId} style={{ marginLeft: 4 }}>
        {tr("暂无数据", "no data yet")}
      </Tag>
    </Tooltip>
  );
}

interface Group {
  key: string;
  title: string;
  datasets: CatalogDataset[];
}

function groupsOf(domain: Domain, cat: CatalogDomain): Group[] {
  const byId = new Map(cat.datasets.map((d) => [d.id, d]));
  const pick = (ids: string[]) => ids.map((id) => byId.get(id)).filter((d): d is CatalogDataset => !!d);
  if (domain === "safety" && cat.categories?.length) {
    return cat.categories.map((c) => ({ key: c.id, title: `${c.id} · ${c.name}`, datasets: pick(c.datasets) }));
  }
  const groups = cat.tasks.map((t) => ({ key: t.id, title: t.name, datasets: pick(t.datasets) }));
  const grouped = new Set(groups.flatMap((g) => g.datasets.map((d) => d.id)));
  const others = cat.datasets.filter((d) => !grouped.has(d.id));
  if (others.length) groups.push({ key: "_other", title: "Other", datasets: others });
  return groups;
}

export interface DatasetPickerProps {
  domain: Domain;
  catalog: CatalogDomain;
  value?: string[];
  onChange?: (v: string[]) => void;
}

/** NLP / safety datasets as checkboxes (`eval-dataset-<id>`), grouped by task or TC260 category. */
export function DatasetPicker({ domain, catalog, value = [], onChange }: DatasetPickerProps) {
  const { isAdmin } = useAuth();
  const { tr } = useT();
  const toggle = (id: string, on: boolean) =>
    onChange?.(on ? [...value.filter((v) => v !== id), id] : value.filter((v) => v !== id));
  const shown = (d: CatalogDataset) => isAdmin || hasData(d) || value.includes(d.id);
  const groups = groupsOf(domain, catalog)
    .map((g) => ({ ...g, datasets: g.datasets.filter(shown) }))
    .filter((g) => g.datasets.length > 0);
  if (!groups.length) {
    return (
      <Typography.Text type="secondary" data-testid="eval-no-datasets">
        {tr("该领域暂无可评测的数据集", "No dataset of this domain has data yet")}
      </Typography.Text>
    );
  }
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      {groups.map((g) => (
        <div key={g.key}>
          <Typography.Text strong>{g.title}</Typography.Text>
          <Row gutter={[8, 4]} style={{ marginTop: 4 }}>
            {g.datasets.map((d) => {
              const usable = hasData(d);
              return (
                <Col key={d.id} xs={24} sm={12} md={8}>
                  <Checkbox
                    data-testid={`eval-dataset-${d.id}`}
                    data-has-data={usable ? "true" : "false"}
                    checked={value.includes(d.id)}
                    // Without data it can only be unticked (an older evaluation being edited).
                    disabled={!usable && !value.includes(d.id)}
                    onChange={(e) => toggle(d.id, e.target.checked)}
                  >
                    {d.name}{" "}
                    <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                      {d.language !== "none" ? d.language : ""} {d.metric}
                      {d.subjective ? " · subjective" : ""}
                    </Typography.Text>
                  </Checkbox>
                  {!usable && <NoDataTag testId={`eval-dataset-no-data-${d.id}`} />}
                </Col>
              );
            })}
          </Row>
        </div>
      ))}
    </Space>
  );
}

export interface TaskPickerProps {
  domain: Domain;
  catalog: CatalogDomain;
  value?: TaskChoice[];
  onChange?: (v: TaskChoice[]) => void;
}

/** CV / multimodal / audio tasks (`eval-task-<id>`), CV with an adaptation method (`eval-method-<id>`). */
export function TaskPicker({ domain, catalog, value = [], onChange }: TaskPickerProps) {
  const { isAdmin } = useAuth();
  const { tr } = useT();
  const byId = new Map(catalog.datasets.map((d) => [d.id, d]));
  // A task runs the datasets of it that have data; one with none cannot be chosen.
  const usable = (t: { datasets: string[] }) => t.datasets.some((id) => { const d = byId.get(id); return !!d && hasData(d); });
  const chosen = (id: string) => value.find((t) => t.task === id);
  const set = (id: string, on: boolean, method?: string | null) => {
    const rest = value.filter((t) => t.task !== id);
    if (!on) return onChange?.(rest);
    onChange?.([...rest, domain === "cv" ? { task: id, adaptation_method: method ?? null } : { task: id }]);
  };
  const tasks = catalog.tasks.filter((t) => isAdmin || usable(t) || !!chosen(t.id));
  if (!tasks.length) {
    return (
      <Typography.Text type="secondary" data-testid="eval-no-tasks">
        {tr("该领域暂无可评测的任务(其数据集尚无数据)", "No task of this domain has data yet")}
      </Typography.Text>
    );
  }
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      {tasks.map((t) => {
        const c = chosen(t.id);
        const ok = usable(t);
        return (
          <Space key={t.id} wrap>
            <Checkbox
              data-testid={`eval-task-${t.id}`}
              data-has-data={ok ? "true" : "false"}
              checked={!!c}
              disabled={!ok && !c}
              onChange={(e) => set(t.id, e.target.checked, c?.adaptation_method ?? t.adaptation_methods[0])}
            >
              <Typography.Text strong>{t.name}</Typography.Text>
            </Checkbox>
            {!ok && <NoDataTag testId={`eval-task-no-data-${t.id}`} />}
            {domain === "cv" && t.adaptation_methods.length > 0 && (
              <Select
                data-testid={`eval-method-${t.id}`}
                size="small"
                style={{ minWidth: 160 }}
                value={c?.adaptation_method ?? t.adaptation_methods[0]}
                onChange={(m: string) => set(t.id, true, m)}
                options={t.adaptation_methods.map((m) => ({ value: m, label: m }))}
              />
            )}
            <Typography.Text type="secondary" style={{ fontSize: 12 }}>
              {t.datasets
                .filter((id) => isAdmin || hasData(byId.get(id) ?? {}))
                .map((id) => {
                  const d = byId.get(id);
                  const name = d?.name ?? id;
                  return d && !hasData(d) ? `${name} (${tr("暂无数据", "no data yet")})` : name;
                })
                .join(", ")}
            </Typography.Text>
          </Space>
        );
      })}
    </Space>
  );
}
