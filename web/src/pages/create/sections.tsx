import { Form, Input, InputNumber, Radio, Select, Switch } from "antd";
import type { Catalog, DeployMode, Domain, Image, Priority } from "../../api/types";
import { useT } from "../../i18n";
import { gpusRule, urlRules } from "./rules";

export interface FormValues {
  name: string;
  description?: string;
  datasets?: string[];
  tasks?: { task: string; adaptation_method?: string | null }[];
  deploy_mode: DeployMode;
  dimensions: { robustness: boolean };
  private: { image_id?: string; priority: Priority; card_type?: string; gpus: number };
  api: { endpoint?: string; model_name?: string; api_key?: string };
  model_info: { model_type?: string; paper_url?: string; model_url?: string };
}

/** The dotted field paths the forms have (used to put 422 issues on fields). */
export const KNOWN_FIELDS = [
  "name", "description", "datasets", "tasks", "deploy_mode", "dimensions.robustness",
  "private.image_id", "private.priority", "private.card_type", "private.gpus",
  "api.endpoint", "api.model_name", "api.api_key",
  "model_info.model_type", "model_info.paper_url", "model_info.model_url",
];

export function DeployModeField({ modes }: { modes: DeployMode[] }) {
  const { tr } = useT();
  return (
    <Form.Item name="deploy_mode" label={tr("部署方式", "Deploy mode")} rules={[{ required: true }]}>
      <Radio.Group data-testid="eval-deploy-mode" optionType="button">
        {modes.map((m) => (
          <Radio.Button key={m} value={m} data-testid={`eval-deploy-mode-${m}`}>
            {m === "private" ? tr("私有部署", "Private deployment") : tr("API 评测", "API")}
          </Radio.Button>
        ))}
      </Radio.Group>
    </Form.Item>
  );
}

export function RobustnessField() {
  const { tr } = useT();
  return (
    <Form.Item
      name={["dimensions", "robustness"]}
      label={tr("鲁棒性评测(准确性为内置)", "Robustness (accuracy is always evaluated)")}
      valuePropName="checked"
    >
      <Switch data-testid="eval-robustness" />
    </Form.Item>
  );
}

export function imagesFor(domain: Domain, images: { preset: Image[]; custom: Image[] }): Image[] {
  const usable = (i: Image) => !i.status || i.status === "approved" || i.status === "imported";
  return [
    ...images.preset.filter((i) => !i.domain || i.domain === domain),
    ...images.custom.filter(usable),
  ];
}

export function PrivateFields({ catalog, images }: { catalog: Catalog; images: Image[] }) {
  const { tr } = useT();
  const cardType = Form.useWatch<string | undefined>(["private", "card_type"]);
  const card = catalog.card_types.find((c) => c.id === cardType);
  return (
    <>
      <Form.Item name={["private", "image_id"]} label={tr("选择镜像", "Image")} rules={[{ required: true, message: tr("请选择镜像", "image is required") }]}>
        <Select
          data-testid="eval-image"
          options={images.map((i) => ({
            value: i.id,
            label: `${i.name}:${i.tag}${i.status ? ` (${i.status})` : ""}${i.framework ? ` — ${i.framework}` : ""}`,
          }))}
        />
      </Form.Item>
      <Form.Item name={["private", "priority"]} label={tr("任务优先级", "Priority")} rules={[{ required: true }]}>
        <Select
          data-testid="eval-priority"
          options={[
            { value: "high", label: tr("高", "High") },
            { value: "medium", label: tr("中", "Medium") },
            { value: "low", label: tr("低", "Low") },
          ]}
        />
      </Form.Item>
      <Form.Item name={["private", "card_type"]} label={tr("选择卡型", "Card type")} rules={[{ required: true, message: tr("请选择卡型", "card type is required") }]}>
        <Select
          data-testid="eval-card-type"
          options={catalog.card_types.map((c) => ({
            value: c.id,
            label: `${c.name} (${c.gpu_memory_gib} GiB, ≤${c.max_gpus})`,
          }))}
        />
      </Form.Item>
      <Form.Item
        name={["private", "gpus"]}
        label={tr("GPU 数量(单机)", "GPUs (one machine)")}
        dependencies={[["private", "card_type"]]}
        rules={[gpusRule(tr, card)]}
      >
        <InputNumber data-testid="eval-gpus" min={1} max={card?.max_gpus} precision={0} />
      </Form.Item>
    </>
  );
}

export function ApiFields({ keyRequired, keySet }: { keyRequired: boolean; keySet?: boolean }) {
  const { tr } = useT();
  return (
    <>
      <Form.Item name={["api", "endpoint"]} label={tr("评测接口", "API endpoint")} rules={urlRules(tr, tr("评测接口", "endpoint"), true)}>
        <Input data-testid="eval-api-endpoint" placeholder="https://…" />
      </Form.Item>
      <Form.Item
        name={["api", "model_name"]}
        label={tr("在线模型名称", "Online model name")}
        rules={[{ required: keyRequired, message: tr("请输入在线模型名称", "model name is required") }, { max: 256 }]}
      >
        <Input data-testid="eval-api-model-name" />
      </Form.Item>
      <Form.Item
        name={["api", "api_key"]}
        label={tr("在线 API KEY", "API key")}
        extra={keySet ? tr("已设置;留空则保持不变", "set; leave empty to keep it") : undefined}
        rules={[
          { required: keyRequired && !keySet, message: tr("请输入 API KEY", "API key is required") },
          { pattern: /^\S*$/, message: tr("API KEY 不能包含空白字符", "API key: no spaces") },
        ]}
      >
        <Input.Password data-testid="eval-api-key" autoComplete="off" />
      </Form.Item>
    </>
  );
}

export function ModelInfoFields({ modelTypes }: { modelTypes: string[] }) {
  const { tr } = useT();
  return (
    <>
      <Form.Item name={["model_info", "model_type"]} label={tr("模型类型", "Model type")}>
        <Select data-testid="eval-model-type" allowClear options={modelTypes.map((m) => ({ value: m, label: m }))} />
      </Form.Item>
      <Form.Item name={["model_info", "paper_url"]} label={tr("论文链接", "Paper URL")} rules={urlRules(tr, tr("论文链接", "paper_url"))}>
        <Input data-testid="eval-paper-url" placeholder="https://…" />
      </Form.Item>
      <Form.Item name={["model_info", "model_url"]} label={tr("模型链接", "Model URL")} rules={urlRules(tr, tr("模型链接", "model_url"))}>
        <Input data-testid="eval-model-url" placeholder="https://…" />
      </Form.Item>
    </>
  );
}
