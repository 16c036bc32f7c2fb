import type { Domain, EvaluationBody } from "../../api/types";
import type { FormValues } from "./sections";

const blank = (v: string | undefined | null): string | null => (v && v.trim() ? v.trim() : null);
export const usesDatasets = (d: Domain): boolean => d === "nlp" || d === "safety";

/** The POST/PATCH body from the form values (only the chosen deploy mode's section). */
export function buildBody(domain: Domain, v: FormValues, withRobustness: boolean): EvaluationBody {
  const body: EvaluationBody = {
    description: (v.description ?? "").trim(),
    deploy_mode: v.deploy_mode,
    model_info: {
      model_type: v.model_info?.model_type ?? null,
      paper_url: blank(v.model_info?.paper_url),
      model_url: blank(v.model_info?.model_url),
    },
  };
  if (withRobustness) body.dimensions = { robustness: !!v.dimensions?.robustness };
  if (usesDatasets(domain)) body.datasets = v.datasets ?? [];
  else body.tasks = (v.tasks ?? []).map((t) => (domain === "cv" ? { task: t.task, adaptation_method: t.adaptation_method ?? null } : { task: t.task }));
  if (v.deploy_mode === "private") {
    body.private = {
      image_id: v.private.image_id ?? "",
      priority: v.private.priority,
      card_type: v.private.card_type ?? "",
      gpus: v.private.gpus,
    };
  } else {
    body.api = { endpoint: (v.api.endpoint ?? "").trim(), model_name: blank(v.api.model_name) };
    const key = blank(v.api.api_key);
    if (key) body.api.api_key = key;
  }
  return body;
}
