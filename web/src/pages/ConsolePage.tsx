import { useEffect, useState } from "react";
import { App, Button, Card, Table, Tag } from "antd";
import type { ColumnsType } from "antd/es/table";
import { Link, useNavigate } from "react-router-dom";
import { api, errorText } from "../api/client";
import type { Evaluation } from "../api/types";
import { useT } from "../i18n";
import { rowProps } from "../components/rowProps";
import { domainLabel, formatTime } from "./labels";

export default function ConsolePage() {
  const { tr, lang } = useT();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [items, setItems] = useState<Evaluation[]>([]);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    api<Evaluation[]>("GET", "/api/evaluations")
      .then(setItems)
      .catch((e: unknown) => message.error(errorText(e)))
      .finally(() => setLoading(false));
  }, [message]);

  const columns: ColumnsType<Evaluation> = [
    {
      title: tr("模型名称", "Name"),
      dataIndex: "name",
      render: (_, e) => (
        <Link to={`/console/evaluations/${e.id}`} data-testid="eval-link">
          {e.name}
        </Link>
      ),
    },
    { title: tr("评测领域", "Domain"), render: (_, e) => <Tag>{domainLabel(e.domain, lang)}</Tag> },
    { title: tr("部署方式", "Deploy mode"), render: (_, e) => (e.deploy_mode === "private" ? tr("私有部署", "Private") : tr("API 评测", "API")) },
    { title: tr("描述", "Description"), dataIndex: "description", ellipsis: true },
    { title: tr("创建时间", "Created"), render: (_, e) => formatTime(e.created_at) },
  ];

  return (
    <Card
      title={tr("我的评测", "My evaluations")}
      extra={
        <Button type="primary" data-testid="eval-create" onClick={() => navigate("/console/evaluations/new")}>
          {tr("创建评测", "Create evaluation")}
        </Button>
      }
    >
      <Table<Evaluation>
        rowKey="id"
        loading={loading}
        columns={columns}
        dataSource={items}
        onRow={(e) => rowProps({ "data-testid": "eval-row", "data-id": e.id })}
      />
    </Card>
  );
}
