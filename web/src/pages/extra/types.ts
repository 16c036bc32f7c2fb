// Reply shapes of the endpoints the extra pages use (SPEC §3, services' schemas).

export const DOMAINS = ["nlp", "cv", "multimodal", "audio", "safety"] as const;
export type Domain = (typeof DOMAINS)[number];

export function isDomain(value: string | undefined): value is Domain {
  return !!value && (DOMAINS as readonly string[]).includes(value);
}

// ---- leaderboards (services/leaderboard boards/schemas.py) ----

export interface BoardColumn {
  key: string; // dataset:<id> | task:<id> | overall
  kind: "dataset" | "task" | "overall";
  better: "higher" | "lower";
  id?: string | null;
  task?: string | null;
  metric?: string | null;
  datasets?: string[] | null;
}

export interface ReproDataset {
  task?: string | null;
  dataset: string;
  version?: string | null;
  sha256?: string | null;
}

export interface Reproducibility {
  bundle_sha256?: string | null;
  image?: string | null;
  datasets?: ReproDataset[];
  generation?: Record<string, unknown> | null;
  platform_version?: string | null;
  finished_at?: string | null;
  [key: string]: unknown;
}

export interface BoardRow {
  id: string;
  rank: number | null;
  model_name: string;
  submitter: string;
  organization: string | null;
  scores: Record<string, number | null>;
  task_averages: Record<string, number | null>;
  overall: number | null;
  submitted_at: string;
  reproducibility: Reproducibility;
}

export interface Board {
  domain: string;
  columns: BoardColumn[];
  rows: BoardRow[];
}

// ---- images (services/image-registry images/schemas.py) ----

export type Severity = "blocking" | "warning" | "hint";

export interface Finding {
  line: number | null;
  severity: Severity;
  rule: string;
  message: string;
  hint?: string | null;
}

export interface PresetImage {
  id: string;
  name: string;
  tag: string;
  description: string;
  framework: string | null;
  card_types: string[];
  tags: string[];
  domain: string | null;
  source_url: string;
}

export type ImageStatus = "pending_review" | "approved" | "rejected" | "imported";

export interface CustomImage {
  id: string;
  name: string;
  tag: string;
  description: string;
  import_mode: string;
  source_url: string;
  dockerfile: string;
  status: ImageStatus | string;
  reason: string | null;
  findings: Finding[];
  registry_ref: string | null;
  created_at: string;
  reviewed_at: string | null;
  imported_at: string | null;
}

export interface AdminImage extends CustomImage {
  owner_id: string;
  owner_username: string | null;
  reviewed_by: string | null;
}

export interface ImageList {
  preset: PresetImage[];
  custom: CustomImage[];
}

// ---- catalog (services/eval-api catalog/service.py) ----

export interface CatalogDataset {
  id: string;
  name: string;
  task: string;
  language: string;
  metric: string;
  size: number;
  version: string;
  subjective?: boolean;
  registered?: boolean;
  category?: string;
  sha256?: string | null;
  content_sha256?: string | null;
}

export interface CatalogTask {
  id: string;
  name: string;
  adaptation_methods: string[];
  datasets: string[];
}

export interface CatalogDomain {
  datasets: CatalogDataset[];
  tasks: CatalogTask[];
  dimensions: string[];
  deploy_modes: string[];
  has_validation?: boolean;
  model_types?: string[];
}

export interface Catalog {
  domains: Record<string, CatalogDomain>;
  card_types: { id: string; name: string; gpu_memory_gib: number; max_gpus: number }[];
  model_types: string[];
}

/** One problem of a rejected dataset registration (422 detail items). Imports name the file
 * of a folder/archive; media registrations use "manifest" and "upload" sources. */
export interface DatasetProblem {
  source: "form" | "card" | "data" | "manifest" | "upload" | string;
  message: string;
  field?: string | null;
  line?: number | null;
  file?: string | null;
}

// ---- admin datasets (services/eval-api api/datasets.py, services/upload api/datasets.py) ----

export interface DatasetVersion {
  version: string;
  item_count: number | null;
  dev_count?: number | null;
  content_sha256: string | null;
  sha256?: string | null;
  registered_at: string;
  registered_by: string | null;
}

/** A row of `GET /api/admin/datasets`: a catalog dataset with its data state and versions. */
export interface AdminDataset {
  id: string;
  name: string;
  domain: string;
  task: string;
  language: string;
  metric: string;
  has_data: boolean;
  version: string | null;
  item_count: number | null;
  content_sha256: string | null;
  source_note: string | null;
  builtin?: boolean;
  demo?: boolean;
  registered?: boolean;
  category?: string;
  versions: DatasetVersion[];
}

export interface DatasetUploadToken {
  upload_id: string;
  dataset: string;
  version: string;
  token: string;
  expires_at: string;
  command: string;
}

export interface DatasetUpload {
  upload_id: string;
  dataset: string;
  version: string;
  /** uploading → complete → valid | invalid */
  status: string;
  problems: string[];
  total_bytes: number;
  files_ready: number;
  /** Every announced file; size and sha256 once it is in. */
  files: { path: string; size_bytes: number | null; sha256: string | null }[];
  created_at: string;
  completed_at: string | null;
}

export interface RegisteredDatasetReply {
  id: string;
  version: string;
  domain: string;
  task: string;
  size: number;
  dev_size?: number;
  data_bytes?: number;
  sha256: string;
  [key: string]: unknown;
}

// ---- notifications (services/notifier notifications/schemas.py) ----

export interface Notification {
  id: string;
  kind: string;
  title: string;
  body: string;
  created_at: string;
  read_at: string | null;
}
