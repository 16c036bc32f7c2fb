import { Checkbox, Col, Row, Select, Space, Typography } from "antd";
import type { CatalogDataset, CatalogDomain, Domain, TaskChoice } from "../../api/types";

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
  const toggle = (id: string, on: boolean) =>
    onChange?.(on ? [...value.filter((v) => v !== id), id] : value.filter((v) => v !== id));
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      {groupsOf(domain, catalog).map((g) => (
        <div key={g.key}>
          <Typography.Text strong>{g.title}</Typography.Text>
          <Row gutter={[8, 4]} style={{ marginTop: 4 }}>
            {g.datasets.map((d) => (
              <Col key={d.id} xs={24} sm={12} md={8}>
                <Checkbox
                  data-testid={`eval-dataset-${d.id}`}
                  checked={value.includes(d.id)}
                  onChange={(e) => toggle(d.id, e.target.checked)}
                >
                  {d.name}{" "}
                  <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                    {d.language !== "none" ? d.language : ""} {d.metric}
                    {d.subjective ? " · subjective" : ""}
                  </Typography.Text>
                </Checkbox>
              </Col>
            ))}
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
  const names = new Map(catalog.datasets.map((d) => [d.id, d.name]));
  const chosen = (id: string) => value.find((t) => t.task === id);
  const set = (id: string, on: boolean, method?: string | null) => {
    const rest = value.filter((t) => t.task !== id);
    if (!on) return onChange?.(rest);
    onChange?.([...rest, domain === "cv" ? { task: id, adaptation_method: method ?? null } : { task: id }]);
  };
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      {catalog.tasks.map((t) => {
        const c = chosen(t.id);
        return (
          <Space key={t.id} wrap>
            <Checkbox
              data-testid={`eval-task-${t.id}`}
              checked={!!c}
              onChange={(e) => set(t.id, e.target.checked, c?.adaptation_method ?? t.adaptation_methods[0])}
            >
              <Typography.Text strong>{t.name}</Typography.Text>
            </Checkbox>
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
              {t.datasets.map((d) => names.get(d) ?? d).join(", ")}
            </Typography.Text>
          </Space>
        );
      })}
    </Space>
  );
}
