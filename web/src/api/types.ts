/** Types of the public REST API (SPEC §3) used by the console. */

export type Domain = "nlp" | "cv" | "multimodal" | "audio" | "safety";
export const DOMAINS: Domain[] = ["nlp", "cv", "multimodal", "audio", "safety"];

export type UserStatus = "registered" | "pending_review" | "approved" | "rejected";

export interface Profile {
  real_name: string;
  organization: string;
  title?: string | null;
  phone?: string | null;
  purpose?: string | null;
}

export interface User {
  id: string;
  email: string;
  username: string;
  role: "user" | "admin";
  status: UserStatus;
  profile: Profile | null;
  review_reason?: string | null;
  created_at?: string;
}

export interface LoginReply {
  access_token: string;
  token_type: "bearer";
  user: User;
}

export interface CatalogDataset {
  id: string;
  name: string;
  task: string;
  language: string;
  metric: string;
  size: number | null;
  version: string | null;
  subjective?: boolean;
  registered?: boolean;
  category?: string;
  /** Whether a run could read it (demo data or a registered version); absent = yes (older API). */
  has_data?: boolean;
  item_count?: number | null;
  content_sha256?: string | null;
  source_note?: string | null;
}

/** Datasets a run can read; a reply without `has_data` counts as having data. */
export const hasData = (d: { has_data?: boolean }): boolean => d.has_data !== false;

export interface CatalogTask {
  id: string;
  name: string;
  adaptation_methods: string[];
  datasets: string[];
}

export interface CatalogCategory {
  id: string;
  name: string;
  datasets: string[];
}

export interface CatalogDomain {
  datasets: CatalogDataset[];
  tasks: CatalogTask[];
  dimensions: string[];
  deploy_modes: DeployMode[];
  has_validation: boolean;
  model_types: string[];
  categories?: CatalogCategory[];
}

export interface CardType {
  id: string;
  name: string;
  gpu_memory_gib: number;
  max_gpus: number;
}

export interface Catalog {
  domains: Record<Domain, CatalogDomain>;
  card_types: CardType[];
  model_types: string[];
}

export interface Image {
  id: string;
  name: string;
  tag: string;
  description?: string;
  framework?: string;
  card_types?: string[];
  tags?: string[];
  domain?: Domain | string;
  source_url?: string;
  status?: string;
}

export interface ImagesReply {
  preset: Image[];
  custom: Image[];
}

export type DeployMode = "private" | "api";
export type Priority = "high" | "medium" | "low";

export interface TaskChoice {
  task: string;
  adaptation_method?: string | null;
  datasets?: string[] | null;
}

export interface Evaluation {
  id: string;
  domain: Domain;
  name: string;
  description: string;
  datasets: string[] | null;
  tasks: { task: string; adaptation_method: string | null; datasets: string[] }[] | null;
  deploy_mode: DeployMode;
  dimensions: { accuracy: boolean; robustness: boolean };
  private: { image_id: string; priority: Priority; card_type: string; gpus: number } | null;
  api: { endpoint: string; model_name: string | null; api_key_set: boolean } | null;
  model_info: { model_type: string | null; paper_url: string | null; model_url: string | null };
  owner_id: string;
  created_at: string;
  updated_at: string;
}

export interface EvaluationBody {
  domain?: Domain;
  name?: string;
  description?: string;
  datasets?: string[];
  tasks?: TaskChoice[];
  deploy_mode?: DeployMode;
  dimensions?: { robustness: boolean };
  private?: { image_id: string; priority: Priority; card_type: string; gpus: number };
  api?: { endpoint: string; model_name?: string | null; api_key?: string | null };
  model_info?: { model_type?: string | null; paper_url?: string | null; model_url?: string | null };
}

export interface UploadToken {
  token: string;
  expires_at: string;
  command: string;
  bundle_version?: number;
}

export type BundleStatus = "uploading" | "complete" | "valid" | "invalid";

export interface Bundle {
  version: number;
  status: BundleStatus;
  files: { path: string; size_bytes: number; sha256: string }[];
  problems: (string | { message?: string; [k: string]: unknown })[];
  created_at?: string;
}

export type RunStatus = "queued" | "starting" | "running" | "succeeded" | "failed" | "stopped";
export type RunKind = "validation" | "formal";
export const ACTIVE_RUN_STATUSES: RunStatus[] = ["queued", "starting", "running"];
export const isActive = (s: RunStatus): boolean => ACTIVE_RUN_STATUSES.includes(s);

export interface RunSummary {
  id: string;
  version: number;
  kind: RunKind;
  status: RunStatus;
  submitter: string;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
}

export type DatasetStatus = "pending" | "running" | "succeeded" | "failed" | "skipped";

export interface DatasetProgress {
  task: string;
  dataset: string;
  status: DatasetStatus;
  started_at: string | null;
  finished_at: string | null;
  metrics: Record<string, number> | null;
  error?: string | null;
}

export interface Sample {
  id: string | number;
  dataset: string;
  sample: string;
  label: string | null;
  predict: string | null;
}

export interface Run extends RunSummary {
  evaluation_id?: string;
  failure: { cause: "user" | "platform" | "preempted"; message: string } | null;
  datasets: DatasetProgress[];
  task_averages: Record<string, Record<string, number>> | null;
  samples: Sample[] | null;
  queue: { position: number; eta_seconds: number | null } | null;
  attempt?: number;
}

export interface Quota {
  formal_runs: { limit: number; used: number; remaining: number; resets_at: string; ledger: unknown[] };
  human_evaluations: { limit: number; used: number; remaining: number };
}
