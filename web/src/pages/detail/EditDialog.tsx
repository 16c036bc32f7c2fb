import { useEffect, useState } from "react";
import { App, Form, Input, Modal } from "antd";
import { api, errorText } from "../../api/client";
import { applyFieldErrors } from "../../api/fieldErrors";
import type { Catalog, Evaluation, ImagesReply } from "../../api/types";
import { useT } from "../../i18n";
import FormError from "../../components/FormError";
import { DatasetPicker, TaskPicker } from "../create/pickers";
import { ApiFields, DeployModeField, imagesFor, KNOWN_FIELDS, ModelInfoFields, PrivateFields, RobustnessField, type FormValues } from "../create/sections";
import { buildBody, usesDatasets } from "../create/body";
import { descriptionRules } from "../create/rules";

function toValues(e: Evaluation): FormValues {
  return {
    name: e.name,
    description: e.description,
    datasets: e.datasets ?? [],
    tasks: (e.tasks ?? []).map((t) => ({ task: t.task, adaptation_method: t.adaptation_method })),
    deploy_mode: e.deploy_mode,
    dimensions: { robustness: e.dimensions.robustness },
    private: { image_id: e.private?.image_id, priority: e.private?.priority ?? "medium", card_type: e.private?.card_type, gpus: e.private?.gpus ?? 1 },
    api: { endpoint: e.api?.endpoint, model_name: e.api?.model_name ?? undefined, api_key: undefined },
    model_info: {
      model_type: e.model_info.model_type ?? undefined,
      paper_url: e.model_info.paper_url ?? undefined,
      model_url: e.model_info.model_url ?? undefined,
    },
  };
}

export interface EditDialogProps {
  open: boolean;
  evaluation: Evaluation;
  catalog: Catalog;
  onClose: () => void;
  onSaved: (e: Evaluation) => void;
}

/** Edit everything but name and domain (PATCH). An empty API key keeps the stored one. */
export default function EditDialog({ open, evaluation, catalog, onClose, onSaved }: EditDialogProps) {
  const { tr } = useT();
  const { message } = App.useApp();
  const [form] = Form.useForm<FormValues>();
  const [images, setImages] = useState<ImagesReply | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const deployMode = Form.useWatch("deploy_mode", form);
  const cat = catalog.domains[evaluation.domain];

  useEffect(() => {
    if (!open) return;
    form.resetFields();
    form.setFieldsValue(toValues(evaluation));
    setError(null);
    api<ImagesReply>("GET", "/api/images").then(setImages).catch(() => setImages({ preset: [], custom: [] }));
  }, [open, evaluation, form]);

  const save = async () => {
    let v: FormValues;
    try {
      v = await form.validateFields();
    } catch {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = buildBody(evaluation.domain, v, cat.dimensions.includes("robustness"));
      const saved = await api<Evaluation>("PATCH", `/api/evaluations/${evaluation.id}`, body);
      message.success(tr("已保存", "Saved"));
      onSaved(saved);
    } catch (e) {
      const rest = applyFieldErrors(form, e, KNOWN_FIELDS);
      setError(rest.length ? rest.join("; ") : errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      open={open}
      width={860}
      title={`${tr("编辑", "Edit")} ${evaluation.name}`}
      onCancel={onClose}
      onOk={() => void save()}
      okButtonProps={{ loading: busy, ...{ "data-testid": "edit-save" } }}
      okText={tr("保存", "Save")}
      destroyOnClose
    >
      <FormError error={error} />
      <Form<FormValues> form={form} layout="vertical" preserve>
        <Form.Item name="description" label={tr("描述", "Description")} rules={descriptionRules(tr)}>
          <Input.TextArea data-testid="eval-description" rows={2} showCount maxLength={256} />
        </Form.Item>
        {usesDatasets(evaluation.domain) ? (
          <Form.Item name="datasets" label={tr("评测数据集", "Datasets")} rules={[{ required: true, type: "array", min: 1 }]}>
            <DatasetPicker domain={evaluation.domain} catalog={cat} />
          </Form.Item>
        ) : (
          <Form.Item name="tasks" label={tr("评测任务", "Tasks")} rules={[{ required: true, type: "array", min: 1 }]}>
            <TaskPicker domain={evaluation.domain} catalog={cat} />
          </Form.Item>
        )}
        <DeployModeField modes={cat.deploy_modes} />
        {cat.dimensions.includes("robustness") && <RobustnessField />}
        {deployMode === "api" ? (
          <ApiFields keyRequired={evaluation.domain === "safety"} keySet={evaluation.api?.api_key_set} />
        ) : (
          <PrivateFields catalog={catalog} images={images ? imagesFor(evaluation.domain, images) : []} />
        )}
        <ModelInfoFields modelTypes={cat.model_types.length ? cat.model_types : catalog.model_types} />
      </Form>
    </Modal>
  );
}
