import { useEffect, useMemo, useState } from "react";
import { App, Button, Card, Divider, Form, Input, Spin } from "antd";
import { useNavigate } from "react-router-dom";
import { api, ApiError, errorText } from "../../api/client";
import { applyFieldErrors } from "../../api/fieldErrors";
import type { Catalog, Domain, Evaluation, ImagesReply } from "../../api/types";
import { useT } from "../../i18n";
import FormError from "../../components/FormError";
import DomainChooser from "./DomainChooser";
import { DatasetPicker, TaskPicker } from "./pickers";
import { ApiFields, DeployModeField, imagesFor, KNOWN_FIELDS, ModelInfoFields, PrivateFields, RobustnessField, type FormValues } from "./sections";
import { buildBody, usesDatasets } from "./body";
import { descriptionRules, nameRules } from "./rules";

function useCatalogAndImages() {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [images, setImages] = useState<ImagesReply | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all([api<Catalog>("GET", "/api/catalog"), api<ImagesReply>("GET", "/api/images")])
      .then(([c, i]) => {
        setCatalog(c);
        setImages(i);
      })
      .catch((e: unknown) => setError(errorText(e)));
  }, []);
  return { catalog, images, error };
}

export default function CreateEvaluationPage() {
  const { tr } = useT();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const { catalog, images, error: loadError } = useCatalogAndImages();
  const [domain, setDomain] = useState<Domain | null>(null);
  const [form] = Form.useForm<FormValues>();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const deployMode = Form.useWatch("deploy_mode", form);

  const cat = domain && catalog ? catalog.domains[domain] : null;
  const domainImages = useMemo(() => (domain && images ? imagesFor(domain, images) : []), [domain, images]);

  const initial = useMemo<FormValues | null>(() => {
    if (!domain || !catalog || !cat) return null;
    return {
      name: "",
      description: "",
      datasets: [],
      tasks: [],
      deploy_mode: cat.deploy_modes[0],
      dimensions: { robustness: false },
      private: {
        image_id: images?.preset.find((i) => i.domain === domain)?.id ?? domainImages[0]?.id,
        priority: "medium",
        card_type: catalog.card_types[0]?.id,
        gpus: 1,
      },
      api: {},
      model_info: { model_type: cat.model_types[0] },
    };
  }, [domain, catalog, cat, images, domainImages]);

  useEffect(() => {
    if (initial) {
      form.resetFields();
      form.setFieldsValue(initial);
    }
    setError(null);
  }, [initial, form]);

  if (loadError) return <FormError error={loadError} />;
  if (!catalog || !images) return <Spin style={{ display: "block", margin: 48 }} />;

  const submit = async (v: FormValues) => {
    if (!domain || !cat) return;
    const pickedSomething = usesDatasets(domain) ? (v.datasets ?? []).length > 0 : (v.tasks ?? []).length > 0;
    if (!pickedSomething) {
      const field = usesDatasets(domain) ? "datasets" : "tasks";
      form.setFields([{ name: field, errors: [tr("请至少选择一项", `${field}: choose at least one`)] }]);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = { domain, name: v.name.trim(), ...buildBody(domain, v, cat.dimensions.includes("robustness")) };
      const created = await api<Evaluation>("POST", "/api/evaluations", body);
      message.success(tr("评测已创建", "Evaluation created"));
      navigate(`/console/evaluations/${created.id}`);
    } catch (e) {
      const rest = applyFieldErrors(form, e, KNOWN_FIELDS);
      if (e instanceof ApiError && e.code === "name_taken") form.setFields([{ name: "name", errors: [e.message] }]);
      setError(rest.length ? rest.join("; ") : errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title={tr("创建评测", "Create evaluation")}>
      <Divider orientation="left">{tr("1. 选择评测领域", "1. Choose the domain")}</Divider>
      <DomainChooser value={domain} onChange={setDomain} />
      {domain && cat && (
        <>
          <Divider orientation="left">{tr("2. 配置参数", "2. Parameters")}</Divider>
          <FormError error={error} />
          <Form<FormValues> form={form} layout="vertical" onFinish={submit} style={{ maxWidth: 900 }} scrollToFirstError>
            <Form.Item name="name" label={tr("模型名称", "Name")} rules={nameRules(tr)} validateFirst>
              <Input data-testid="eval-name" placeholder="my-llm-7b" maxLength={32} />
            </Form.Item>
            <Form.Item name="description" label={tr("描述", "Description")} rules={descriptionRules(tr)}>
              <Input.TextArea data-testid="eval-description" rows={2} showCount maxLength={256} />
            </Form.Item>
            {usesDatasets(domain) ? (
              <Form.Item name="datasets" label={tr("评测数据集", "Datasets")} rules={[{ required: true, type: "array", min: 1, message: tr("请至少选择一个数据集", "datasets: choose at least one") }]}>
                <DatasetPicker domain={domain} catalog={cat} />
              </Form.Item>
            ) : (
              <Form.Item name="tasks" label={tr("评测任务", "Tasks")} rules={[{ required: true, type: "array", min: 1, message: tr("请至少选择一个任务", "tasks: choose at least one") }]}>
                <TaskPicker domain={domain} catalog={cat} />
              </Form.Item>
            )}
            <DeployModeField modes={cat.deploy_modes} />
            {cat.dimensions.includes("robustness") && <RobustnessField />}
            <Divider orientation="left" plain>
              {deployMode === "api" ? tr("API 配置", "API") : tr("环境配置", "Environment")}
            </Divider>
            {deployMode === "api" ? (
              <ApiFields keyRequired={domain === "safety"} />
            ) : (
              <PrivateFields catalog={catalog} images={domainImages} />
            )}
            <Divider orientation="left" plain>
              {tr("模型信息", "Model info")}
            </Divider>
            <ModelInfoFields modelTypes={cat.model_types.length ? cat.model_types : catalog.model_types} />
            <Button type="primary" htmlType="submit" loading={busy} data-testid="eval-submit">
              {tr("提交", "Submit")}
            </Button>
          </Form>
        </>
      )}
    </Card>
  );
}
