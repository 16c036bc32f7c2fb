import { Descriptions, Tag, Typography } from "antd";
import type { Catalog, Evaluation } from "../../api/types";
import { useT } from "../../i18n";
import { domainLabel, formatTime } from "../labels";

export default function ParamsView({ evaluation: e, catalog }: { evaluation: Evaluation; catalog: Catalog | null }) {
  const { tr, lang } = useT();
  const names = new Map((catalog?.domains[e.domain]?.datasets ?? []).map((d) => [d.id, d.name]));
  const taskNames = new Map((catalog?.domains[e.domain]?.tasks ?? []).map((t) => [t.id, t.name]));
  const card = catalog?.card_types.find((c) => c.id === e.private?.card_type);
  const link = (u: string | null) => (u ? <a href={u} target="_blank" rel="noreferrer">{u}</a> : "—");
  return (
    <Descriptions size="small" bordered column={{ xs: 1, md: 2, xl: 3 }}>
      <Descriptions.Item label={tr("模型名称", "Name")}>
        <Typography.Text strong data-testid="eval-detail-name">{e.name}</Typography.Text>
      </Descriptions.Item>
      <Descriptions.Item label={tr("评测领域", "Domain")}>{domainLabel(e.domain, lang)}</Descriptions.Item>
      <Descriptions.Item label={tr("部署方式", "Deploy mode")}>
        {e.deploy_mode === "private" ? tr("私有部署", "Private") : "API"}
      </Descriptions.Item>
      <Descriptions.Item label={tr("描述", "Description")} span={3}>{e.description || "—"}</Descriptions.Item>
      {e.datasets && (
        <Descriptions.Item label={tr("评测数据集", "Datasets")} span={3}>
          {e.datasets.map((d) => <Tag key={d}>{names.get(d) ?? d}</Tag>)}
        </Descriptions.Item>
      )}
      {e.tasks && (
        <Descriptions.Item label={tr("评测任务", "Tasks")} span={3}>
          {e.tasks.map((t) => (
            <Tag key={t.task}>
              {taskNames.get(t.task) ?? t.task}
              {t.adaptation_method ? ` · ${t.adaptation_method}` : ""}
            </Tag>
          ))}
        </Descriptions.Item>
      )}
      <Descriptions.Item label={tr("评测维度", "Dimensions")}>
        {tr("准确性", "accuracy")}
        {e.dimensions.robustness ? ` + ${tr("鲁棒性", "robustness")}` : ""}
      </Descriptions.Item>
      {e.private && (
        <>
          <Descriptions.Item label={tr("镜像", "Image")}>{e.private.image_id}</Descriptions.Item>
          <Descriptions.Item label={tr("优先级", "Priority")}>{e.private.priority}</Descriptions.Item>
          <Descriptions.Item label={tr("卡型 / GPU", "Card / GPUs")}>
            {card?.name ?? e.private.card_type} × {e.private.gpus}
          </Descriptions.Item>
        </>
      )}
      {e.api && (
        <>
          <Descriptions.Item label={tr("评测接口", "Endpoint")}>{e.api.endpoint}</Descriptions.Item>
          <Descriptions.Item label={tr("在线模型名称", "Model name")}>{e.api.model_name ?? "—"}</Descriptions.Item>
          <Descriptions.Item label="API KEY">
            <span data-testid="eval-api-key-state">{e.api.api_key_set ? tr("已设置", "set") : tr("未设置", "not set")}</span>
          </Descriptions.Item>
        </>
      )}
      <Descriptions.Item label={tr("模型类型", "Model type")}>{e.model_info.model_type ?? "—"}</Descriptions.Item>
      <Descriptions.Item label={tr("论文链接", "Paper")}>{link(e.model_info.paper_url)}</Descriptions.Item>
      <Descriptions.Item label={tr("模型链接", "Model")}>{link(e.model_info.model_url)}</Descriptions.Item>
      <Descriptions.Item label={tr("创建时间", "Created")}>{formatTime(e.created_at)}</Descriptions.Item>
      <Descriptions.Item label={tr("更新时间", "Updated")}>{formatTime(e.updated_at)}</Descriptions.Item>
    </Descriptions>
  );
}
