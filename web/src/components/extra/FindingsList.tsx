import { Alert, List, Space, Tag, Typography } from "antd";
import { useT } from "../../i18n";
import type { Finding, Severity } from "../../pages/extra/types";

export const SEVERITY_COLOR: Record<Severity, string> = {
  blocking: "red",
  warning: "orange",
  hint: "blue",
};

const SEVERITY_ORDER: Record<string, number> = { blocking: 0, warning: 1, hint: 2 };

export function useSeverityLabel(): (s: string) => string {
  const { tr } = useT();
  return (s) =>
    s === "blocking" ? tr("阻断", "blocking") : s === "warning" ? tr("警告", "warning") : s === "hint" ? tr("提示", "hint") : s;
}

/** Dockerfile findings (line, severity, rule, message, fix hint), blocking first. */
export function FindingsList({ findings, testId = "image-findings" }: { findings: Finding[]; testId?: string }) {
  const { tr } = useT();
  const label = useSeverityLabel();
  const sorted = [...findings].sort(
    (a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || (a.line ?? 0) - (b.line ?? 0),
  );
  const counts = { blocking: 0, warning: 0, hint: 0 } as Record<string, number>;
  for (const f of findings) counts[f.severity] = (counts[f.severity] ?? 0) + 1;

  return (
    <div data-testid={testId} data-count={findings.length}>
      {findings.length === 0 ? (
        <Alert type="success" showIcon message={tr("未发现问题", "No findings")} />
      ) : (
        <>
          <Space style={{ marginBottom: 8 }} wrap>
            {(["blocking", "warning", "hint"] as Severity[]).map((s) =>
              counts[s] ? (
                <Tag key={s} color={SEVERITY_COLOR[s]}>
                  {label(s)} × {counts[s]}
                </Tag>
              ) : null,
            )}
          </Space>
          <List
            size="small"
            bordered
            dataSource={sorted}
            renderItem={(f) => (
              <List.Item data-testid="image-finding" data-severity={f.severity} data-rule={f.rule}>
                <div style={{ width: "100%" }}>
                  <Space wrap>
                    <Tag color={SEVERITY_COLOR[f.severity as Severity] ?? "default"}>{label(f.severity)}</Tag>
                    <Typography.Text type="secondary">
                      {f.line ? tr(`第 ${f.line} 行`, `line ${f.line}`) : tr("全文", "whole file")}
                    </Typography.Text>
                    <Typography.Text code>{f.rule}</Typography.Text>
                  </Space>
                  <div style={{ marginTop: 4 }}>{f.message}</div>
                  {f.hint ? (
                    <div>
                      <Typography.Text type="secondary">
                        {tr("建议:", "Hint: ")}
                        {f.hint}
                      </Typography.Text>
                    </div>
                  ) : null}
                </div>
              </List.Item>
            )}
          />
        </>
      )}
    </div>
  );
}

/** A Dockerfile with line numbers, lines that have findings tinted by their worst severity. */
export function DockerfileView({ text, findings = [] }: { text: string; findings?: Finding[] }) {
  const worst = new Map<number, Severity>();
  for (const f of findings) {
    if (!f.line) continue;
    const prev = worst.get(f.line);
    if (!prev || (SEVERITY_ORDER[f.severity] ?? 9) < (SEVERITY_ORDER[prev] ?? 9)) worst.set(f.line, f.severity);
  }
  const bg: Record<Severity, string> = { blocking: "#fff1f0", warning: "#fff7e6", hint: "#e6f4ff" };
  const lines = text.split("\n");
  return (
    <pre
      data-testid="dockerfile-view"
      style={{
        maxHeight: 360,
        overflow: "auto",
        background: "#fafafa",
        border: "1px solid #f0f0f0",
        borderRadius: 6,
        padding: 8,
        fontSize: 12,
        margin: 0,
      }}
    >
      {lines.map((line, i) => {
        const sev = worst.get(i + 1);
        return (
          <div key={i} style={{ background: sev ? bg[sev] : undefined, whiteSpace: "pre" }}>
            <span style={{ display: "inline-block", width: 36, color: "#999", userSelect: "none" }}>{i + 1}</span>
            {line}
          </div>
        );
      })}
    </pre>
  );
}
