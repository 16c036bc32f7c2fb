import { Alert } from "antd";

/** The page-level API error (`data-testid="form-error"`). */
export default function FormError({ error }: { error: string | null }) {
  if (!error) return null;
  return <Alert type="error" showIcon message={error} data-testid="form-error" style={{ marginBottom: 16 }} />;
}
