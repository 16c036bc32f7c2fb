import { Card, Col, Row, Typography } from "antd";
import { DOMAINS, type Domain } from "../../api/types";
import { useT } from "../../i18n";
import { domainLabel } from "../labels";

const BLURB: Record<Domain, [string, string]> = {
  nlp: ["大语言模型:私有部署或 API,准确性 + 鲁棒性", "Language models: private or API, accuracy + robustness"],
  cv: ["视觉骨干模型:分类、检索、分割、深度估计", "Vision backbones: classification, retrieval, segmentation, depth"],
  multimodal: ["图文模型:VQA、检索、文生图", "Vision-language: VQA, retrieval, text-to-image"],
  audio: ["语音模型:私有部署,仅正式评测", "Speech models: private, formal runs only"],
  safety: ["内容安全:TC260-003 五类,API 评测", "Content safety: TC260-003 A1–A5, API only"],
};

export default function DomainChooser({ value, onChange }: { value: Domain | null; onChange: (d: Domain) => void }) {
  const { lang } = useT();
  return (
    <Row gutter={[16, 16]}>
      {DOMAINS.map((d) => (
        <Col key={d} xs={24} sm={12} md={8} lg={4} flex="1">
          <Card
            hoverable
            data-testid={`eval-domain-${d}`}
            data-selected={value === d ? "true" : "false"}
            onClick={() => onChange(d)}
            style={{ height: "100%", borderColor: value === d ? "#1f5fd1" : undefined, borderWidth: value === d ? 2 : 1 }}
          >
            <Typography.Title level={5} style={{ marginTop: 0 }}>
              {domainLabel(d, lang)}
            </Typography.Title>
            <Typography.Text type="secondary">{BLURB[d][lang === "zh" ? 0 : 1]}</Typography.Text>
          </Card>
        </Col>
      ))}
    </Row>
  );
}
