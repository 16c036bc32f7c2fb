import { Result } from "antd";
import { useT } from "../i18n";

export default function NotFoundPage() {
  const { tr } = useT();
  return <Result status="404" title="404" subTitle={tr("页面不存在", "Page not found")} />;
}
